"""The one clock: dates in naive UTC truncated to milliseconds, as MongoDB stores them, and
monotonic seconds for measuring windows.

Truncating on the way in makes a document we wrote compare equal to the one
we read back, on the embedded store and on a real server alike.
"""

from __future__ import annotations

import datetime
import time


def utcnow() -> datetime.datetime:
    moment = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def monotonic() -> float:
    """Seconds from an arbitrary start that never go back: for windows and timeouts, not dates."""
    return time.monotonic()
