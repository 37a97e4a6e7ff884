"""How long the event loop was kept from running: a probe that wakes every few milliseconds.

Any callback that holds the loop (a slow query on the embedded store, a big
render, a blocking call) delays the probe's wake-up by as long; the longest
delay is what every request waiting at that moment waited too. Stalls past
a threshold are logged (at most one line every few seconds), and the longest
one is reported when the process stops.
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
        self._started = 0.0
        self._last_warning = float("-inf")
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._started = time.monotonic()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            lag = time.monotonic() - before - self.interval
            self.longest = max(self.longest, lag)
            if lag > self.warn_after and before - self._last_warning > WARN_EVERY:
                self._last_warning = before
                log.warning("the event loop was held for %.0f ms", lag * 1000)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
            log.info("event loop: longest stall %.1f ms in %.0f s",
                     self.longest * 1000, time.monotonic() - self._started)
