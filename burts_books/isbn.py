"""ISBN-10 / ISBN-13 parsing: every book is keyed by its normalized ISBN-13."""

from __future__ import annotations

import re

from .infra.errors import Invalid

_SEPARATORS = re.compile(r"[\s-]")
# [0-9], not \d: other scripts' digits would make ISBNs no URL route matches.
_ISBN13 = re.compile(r"[0-9]{13}")
_ISBN10 = re.compile(r"[0-9]{9}[0-9X]")


class InvalidISBN(Invalid):
    pass


def isbn13_check_digit(first12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def normalize(raw: str) -> str:
    """Return the ISBN-13 (digits only) for an ISBN-10 or ISBN-13, or raise InvalidISBN."""
    value = _SEPARATORS.sub("", raw or "").upper()
    if _ISBN13.fullmatch(value):
        if not value.startswith(("978", "979")):
            raise InvalidISBN("an ISBN-13 starts with 978 or 979")
        if isbn13_check_digit(value[:12]) != value[12]:
            raise InvalidISBN("the ISBN's check digit is wrong")
        return value
    if _ISBN10.fullmatch(value):
        total = sum((10 - i) * (10 if c == "X" else int(c)) for i, c in enumerate(value))
        if total % 11:
            raise InvalidISBN("the ISBN's check digit is wrong")
        body = "978" + value[:9]
        return body + isbn13_check_digit(body)
    raise InvalidISBN("an ISBN has 10 or 13 digits (hyphens and spaces allowed)")


def from_input(raw) -> str:
    """normalize() for what a request sent, which may not even be text; the error quotes it."""
    if not isinstance(raw, str):
        raise InvalidISBN(f"Not an ISBN: {raw!r}.")
    try:
        return normalize(raw)
    except InvalidISBN as exc:
        raise InvalidISBN(f"Not a valid ISBN ({raw[:20]!r}): {exc}.") from None
