"""Log lines that an attacker could make us repeat by the million: at most one per interval."""

from __future__ import annotations

import logging
import time


class ThrottledLog:
    """Logs the first occurrence at once, then at most one line per `interval` seconds.

    A line logged after a quiet spell says how many occurrences were held back
    since the one before, so the count is kept even where the lines are not.
    """

    def __init__(self, logger: logging.Logger, interval: float = 60.0):
        self.logger = logger
        self.interval = interval
        self._held_back = 0
        self._next_line = 0.0

    def warning(self, message: str, *args) -> None:
        now = time.monotonic()
        if now < self._next_line:
            self._held_back += 1
            return
        if self._held_back:
            message += " (%d more since the last such line)"
            args = (*args, self._held_back)
        self.logger.warning(message, *args, stacklevel=2)  # the line that called, not this one
        self._held_back = 0
        self._next_line = now + self.interval
