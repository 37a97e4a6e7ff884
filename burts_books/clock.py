"""The one clock: naive UTC truncated to milliseconds, as MongoDB stores dates.

Truncating on the way in makes a document we wrote compare equal to the one
we read back, on the embedded store and on a real server alike.
"""

from __future__ import annotations

import datetime


def utcnow() -> datetime.datetime:
    moment = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
