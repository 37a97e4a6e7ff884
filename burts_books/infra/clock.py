"""The one clock: dates in naive UTC truncated to milliseconds, as MongoDB stores them, and
monotonic seconds for measuring windows.

Truncating on the way in makes a document we wrote compare equal to the one
we read back, on the embedded store and on a real server alike.
"""

from __future__ import annotations

import datetime
import time

_EPOCH = datetime.datetime(1970, 1, 1)


def utcnow() -> datetime.datetime:
    # The epoch plus whole milliseconds: a third of the time of now(UTC) made naive, then truncated
    # (every signed-in page asks whether the cart's hold ends soon).
    return _EPOCH + datetime.timedelta(milliseconds=time.time_ns() // 1_000_000)


def monotonic() -> float:
    """Seconds from an arbitrary start that never go back: for windows and timeouts, not dates."""
    return time.monotonic()


def iso_utc(moment: datetime.datetime) -> str:
    """One of our naive UTC dates as the JSON API writes dates: ISO 8601, marked UTC."""
    return moment.isoformat() + "Z"
