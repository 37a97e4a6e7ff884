"""`serve --processes N`'s parent: N children, one restarted when it dies, SIGTERM passed on to all.

The shop itself needs MongoDB and Redis for several processes (refused on the
embedded store: see test_operations.py), so the children here are a stand-in
that records its number and its end.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.shop_process import stop_process

CHILD = """
import os, signal, sys, time
from burts_books.infra import processes

index = processes.fork(2)
folder = sys.argv[1]
open(f"{folder}/started-{index}-{os.getpid()}", "w").close()

def drain(*_):
    open(f"{folder}/drained-{index}-{os.getpid()}", "w").close()
    sys.exit(0)

signal.signal(signal.SIGTERM, drain)
while True:
    time.sleep(0.05)
"""


def marks(folder: Path, kind: str) -> list[tuple[int, int]]:
    """(index, pid) of each child that left a `kind` mark."""
    found = (re.fullmatch(rf"{kind}-(\d+)-(\d+)", path.name) for path in folder.iterdir())
    return sorted((int(m[1]), int(m[2])) for m in found if m)


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_children_are_restarted_when_they_die_and_all_drain_on_sigterm(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)],
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    try:
        wait_for(lambda: len(marks(tmp_path, "started")) == 2)
        [(first, killed), (second, _)] = marks(tmp_path, "started")
        assert (first, second) == (0, 1)
        os.kill(killed, signal.SIGKILL)
        wait_for(lambda: len(marks(tmp_path, "started")) == 3)  # number 0 again, a new process
        restarted = [pid for index, pid in marks(tmp_path, "started") if index == 0 and pid != killed]
        assert len(restarted) == 1

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=10) == 0
        assert [index for index, _ in marks(tmp_path, "drained")] == [0, 1]
        assert restarted[0] in [pid for _, pid in marks(tmp_path, "drained")]
    finally:
        stop_process(parent)
