"""A browser's Cookie header read once per process, not on every request.

A browser sends the same Cookie header with every request: it is parsed
once, and each signed cookie in it (session, cart) has its signature
(HMAC-SHA256) checked once. What a header holds is kept with when each signed
cookie was signed, so the cookie's age is still checked every time; a cookie
that did not check out is checked afresh each time, so made-up cookies are
never taken for checked ones. Headers are kept up to a number of bytes, the
least recently sent out first: made-up headers only push others out.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cachetools
import tornado.httputil

HEADERS_KEPT_BYTES = 16 * 2**20  # a signed-in browser's header is about 450 bytes

Check = Callable[[str], bytes | None]  # a signed cookie's value if its signature holds, else None


def signed_at(raw: str) -> int | None:
    """When a cookie Tornado signed (format 2, `2|1:0|10:<seconds>|...`) was signed; None for another format."""
    fields = raw.split("|", 3)
    if len(fields) < 4 or fields[0] != "2":
        return None
    length, _, seconds = fields[2].partition(":")
    return int(seconds) if length.isdigit() and seconds.isdigit() and int(length) == len(seconds) else None


class CookieHeader:
    """The cookies of one Cookie header, and those of its signed cookies that checked out."""

    __slots__ = ("_checked", "size", "values")

    def __init__(self, header: str):
        self.values: dict[str, str] = tornado.httputil.parse_cookie(header)
        self.size = 2 * len(header) + 600  # the header, its parse and the few signed cookies checked in it, about
        self._checked: dict[tuple[str, int | None], tuple[bytes, int]] = {}

    def signed_value(self, name: str, max_age_days: float, min_version: int | None, check: Check) -> bytes | None:
        """The value of the signed cookie `name` if it is there, checks out (`check`, once) and is
        young enough; else None."""
        kept = self._checked.get((name, min_version))
        if kept is None:
            raw = self.values.get(name)
            if raw is None:
                return None
            value = check(raw)
            signed = signed_at(raw)
            if value is None or signed is None:  # forged, or signed in a format that carries no time
                return value
            kept = self._checked[(name, min_version)] = (value, signed)
        value, signed = kept
        return value if signed >= time.time() - max_age_days * 86400 else None


class CookieHeaders:
    def __init__(self, size_bytes: int = HEADERS_KEPT_BYTES):
        self._read: cachetools.LRUCache = cachetools.LRUCache(maxsize=size_bytes, getsizeof=lambda read: read.size)

    def read(self, header: str) -> CookieHeader:
        """The cookies of `header`, parsed when first sent."""
        read = self._read.get(header)
        if read is None:
            read = CookieHeader(header)
            if read.size <= self._read.maxsize:
                self._read[header] = read
        return read
