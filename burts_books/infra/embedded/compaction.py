"""Compaction, in its own process: the snapshot plus sealed journal segments become a new snapshot.

The serving process seals its journal segment, starts a new one, and runs
`python -m burts_books.infra.embedded.compaction FOLDER THROUGH PARENT_PID`. The
compaction works from the files alone, never the live data, so it costs the
server's event loop only the start of a process (a thread would hold the GIL
for its whole decode and encode), and it runs at the lowest CPU priority: it
inherits the server's core (and a pinned server has only one), where its
seconds of work would otherwise halve the server's share for as long. It
touches the files only while the server that started it lives: it dies with
it, so the next owner of the store never finds it at work.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from .errors import StoreDamaged
from .files import sync_folder
from .journal import replay, segment_numbers, segment_path
from .snapshot import read_snapshot, snapshot_path, write_snapshot

PR_SET_PDEATHSIG = 1
LOWEST_PRIORITY = 19  # niceness


def compact(folder: Path, through: int) -> None:
    snapshot = snapshot_path(folder)
    state, start = read_snapshot(snapshot) if snapshot.exists() else ({}, 0)
    for number in range(start + 1, through + 1):
        replay(state, segment_path(folder, number), last=False)
    write_snapshot(snapshot, state, through)
    for number in segment_numbers(folder):
        if number <= through:
            segment_path(folder, number).unlink()
    sync_folder(folder)


def die_with_parent(parent: int) -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # Linux
    if os.getppid() != parent:  # it died before we asked
        raise SystemExit(1)


def main(argv: list[str]) -> None:
    folder, through, parent = Path(argv[0]), int(argv[1]), int(argv[2])
    die_with_parent(parent)
    os.setpriority(os.PRIO_PROCESS, 0, LOWEST_PRIORITY)
    try:
        compact(folder, through)
    except (StoreDamaged, OSError) as error:
        print(error, file=sys.stderr)  # noqa: T201 -- a process of its own; the server logs its stderr
        raise SystemExit(1) from None


if __name__ == "__main__":
    main(sys.argv[1:])
