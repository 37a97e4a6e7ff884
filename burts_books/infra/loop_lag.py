"""How long the event loop was kept from running: a probe that wakes every few milliseconds.

Any callback that holds the loop (a slow query on the embedded store, a big
render, a blocking call) delays the probe's wake-up by as long; the longest
delay is what every request waiting at that moment waited too. Stalls past
a threshold are logged (at most one line every few seconds), and the longest
one is reported when the process stops.

The probe is a plain timer callback, measured against the clock: a task woken
from `asyncio.sleep` would take a second turn of the loop to resume, and count
that turn's work as part of the stall before it. Beside each stall it reads how
much CPU the loop's thread used meanwhile: a stall with little of it was spent
waiting (for the core, which a password hash in another thread or another
program had, or in a blocking call), not computing.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger(__name__)

INTERVAL = 0.005
WARN_AFTER = 0.1
WARN_EVERY = 10.0


class LoopLagProbe:
    def __init__(self, interval: float = INTERVAL, warn_after: float = WARN_AFTER):
        self.interval = interval
        self.warn_after = warn_after
        self.longest = 0.0
        self.longest_busy = 0.0  # the longest stall counted in the loop thread's CPU time
        self._started = 0.0
        self._due = 0.0
        self._cpu_at_start = 0.0  # the loop thread's CPU time when the wake-up was asked for
        self._last_warning = float("-inf")
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._started = time.monotonic()
        self._wake_later()

    def _wake_later(self) -> None:
        # uvloop's loop.time() is the time its turn began, so lateness is read from time.monotonic().
        self._due = time.monotonic() + self.interval
        self._cpu_at_start = time.thread_time()
        self._timer = asyncio.get_running_loop().call_later(self.interval, self._woken)

    def _woken(self) -> None:
        lag = max(0.0, time.monotonic() - self._due)
        self.longest = max(self.longest, lag)
        self.longest_busy = max(self.longest_busy, time.thread_time() - self._cpu_at_start - self.interval)
        if lag > self.warn_after and self._due - self._last_warning > WARN_EVERY:
            self._last_warning = self._due
            log.warning("the event loop was held for %.0f ms", lag * 1000)
        self._wake_later()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            log.info("event loop: longest stall %.1f ms in %.0f s; the longest in the loop's CPU time %.1f ms",
                     self.longest * 1000, time.monotonic() - self._started, self.longest_busy * 1000)
