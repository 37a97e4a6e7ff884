"""Signed cookies checked once per process, not on every request.

A browser sends the same session and cart cookies with every request, and
checking a signature (HMAC-SHA256 over the cookie) is a good part of reading
them. A cookie that checked out is remembered with when it was signed, so its
age is still checked every time; one that did not is checked afresh each time,
so nobody can fill the memory with made-up cookies.
"""

from __future__ import annotations

import time

import cachetools

SIGNATURES_KEPT = 20_000  # about 200 bytes each


def signed_at(raw: str) -> int | None:
    """When a cookie Tornado signed (format 2, `2|1:0|10:<seconds>|...`) was signed; None for another format."""
    fields = raw.split("|", 3)
    if len(fields) < 4 or fields[0] != "2":
        return None
    length, _, seconds = fields[2].partition(":")
    return int(seconds) if length.isdigit() and seconds.isdigit() and int(length) == len(seconds) else None


class CheckedCookies:
    def __init__(self, size: int = SIGNATURES_KEPT):
        self._checked: cachetools.LRUCache = cachetools.LRUCache(maxsize=size)

    def value(self, name: str, raw: str, max_age_days: float, min_version: int | None) -> bytes | None:
        """The value of a cookie checked before, if it is still young enough; else None (check it)."""
        found = self._checked.get((name, raw, min_version))
        if found is None:
            return None
        value, signed = found
        return value if signed >= time.time() - max_age_days * 86400 else None

    def remember(self, name: str, raw: str, min_version: int | None, value: bytes) -> None:
        signed = signed_at(raw)
        if signed is not None:
            self._checked[(name, raw, min_version)] = (value, signed)
