"""`serve --processes N` on a host without a process manager: N children, kept running by their parent.

Tornado's `fork_processes` would do most of this, but it does not pass
SIGTERM on to its children, so stopping the parent would orphan them and cut
their requests. Here the parent passes SIGTERM and SIGINT on (each child then
drains, as under supervisor) and exits once all have ended. A child that ends
while the parent is not stopping, crashed or restarted by hand with SIGTERM
(a rolling restart: one child at a time), is started again.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0  # seconds before a child that ended is started again, so a crash at start can't spin


def fork(count: int) -> int:
    """In each child: return its index, 0 to count-1. The parent supervises and exits, never returning."""
    children: dict[int, int] = {}  # pid -> index
    stopping = False

    def stop(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            os.kill(pid, signum)

    for index in range(count):
        pid = os.fork()
        if pid == 0:
            return index
        children[pid] = index
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("started %d processes: %s", count, ", ".join(map(str, children)))
    while children:
        pid, status = os.wait()
        index = children.pop(pid, -1)
        if index < 0 or stopping:
            continue
        log.warning("process %d (number %d) ended (status %d); starting it again", pid, index,
                    os.waitstatus_to_exitcode(status))
        time.sleep(RESTART_PAUSE)
        if not stopping:
            child = os.fork()
            if child == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                return index
            children[child] = index
    sys.exit(0)
