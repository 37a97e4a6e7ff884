"""The write-ahead journal: numbered segment files of framed records.

Writes are appended to the newest segment. Compaction starts a new segment
and folds the older ones into the snapshot, so only the newest segment can
end in a record cut short by a crash; the older ones were whole when the
next one began.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import bson

from .errors import StoreDamaged
from .frames import frame_follows, read_frames
from .records import State, apply

_SEGMENT = re.compile(r"journal-(\d{8})")


def segment_path(folder: Path, number: int) -> Path:
    return folder / f"journal-{number:08d}"


def segment_numbers(folder: Path) -> list[int]:
    return sorted(int(m[1]) for p in folder.iterdir() if (m := _SEGMENT.fullmatch(p.name)))


def replay(state: State, path: Path, *, last: bool) -> tuple[int, int]:
    """Apply a segment file's records to `state`; returns (length of its intact records, file size).

    Only the last segment may end in a record cut short (a crash mid-append):
    the caller drops it. Anywhere else that is damage.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StoreDamaged.file(path, f"unreadable: {error.strerror}") from None
    return apply_segment(state, path, data, last=last), len(data)


def apply_segment(state: State, path: Path, data: bytes, *, last: bool) -> int:
    """Apply the records of segment `path`, read as `data`, to `state`; returns the length of the
    intact ones. What follows them is a torn tail, for the caller to drop, only in the `last` segment
    and only with no intact record after it: a crash cuts short the last append alone, so anything
    else is damage, and dropping it would drop the acknowledged records behind it."""
    payloads, intact = read_frames(data)
    if intact < len(data) and not last:
        raise StoreDamaged.file(path, f"bad checksum or cut short at byte {intact}")
    if intact < len(data) and frame_follows(data, intact):
        # A power loss in the middle of one write can leave a later part of it on disk and not an
        # earlier one: then nothing from the bad record on was ever acknowledged. Only the operator,
        # who knows what happened, can tell that from a disk's damage.
        raise StoreDamaged.file(
            path, f"bad record at byte {intact}, with intact records after it",
            f"if the machine lost power or crashed just before, what follows may be one write it never "
            f"finished: `truncate -s {intact} {path}` keeps every record before it; else ")
    try:
        for payload in payloads:
            apply(state, bson.decode(payload))
    except (bson.errors.BSONError, KeyError) as error:
        raise StoreDamaged.file(path, f"unreadable record: {error}") from None
    return intact


class JournalWriter:
    """Appends to one segment file and makes it durable. Runs in the journal's own thread.

    `durable` is the length of what is known to be on disk. A failed append may
    leave part of a record behind it; that tail is cut off before the next
    append, so every acknowledged record follows only intact ones.
    """

    def __init__(self, fd: int):
        self.fd = fd
        self.durable = os.fstat(fd).st_size
        self._damaged_tail = False

    @classmethod
    def open(cls, path: Path) -> JournalWriter:
        return cls(os.open(path, os.O_WRONLY | os.O_APPEND))

    def append(self, data: bytes) -> None:
        """Append and fdatasync; OSError if the disk refused (and the tail is cut off if it can be)."""
        self.seal()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            os.fdatasync(self.fd)
        except OSError:
            self._damaged_tail = True
            with contextlib.suppress(OSError):  # tried again before the next append
                self._cut_tail()
            raise
        self.durable += len(data)

    def seal(self) -> None:
        """Make sure the file ends with its last intact record (before another segment follows it)."""
        if self._damaged_tail:
            self._cut_tail()

    def _cut_tail(self) -> None:
        os.ftruncate(self.fd, self.durable)
        os.fdatasync(self.fd)
        self._damaged_tail = False

    def close(self) -> None:
        os.close(self.fd)
