"""Whole numbers typed by people or sent by programs, parsed one way everywhere."""

from __future__ import annotations

from .errors import Invalid

LARGEST = 10**9 - 1  # for counters with no bound of their own (versions)


def whole_number(raw: object, minimum: int, maximum: int) -> int:
    """`raw` (text of ASCII digits, or a JSON integer) as an int in [minimum, maximum].

    Raises ValueError for anything else: signs, decimals, other scripts'
    digits ("²" passes str.isdigit), booleans, or a number out of range.
    """
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        digits = text.lstrip("0")
        # int() refuses more than 4300 digits, leading zeros included (ValueError deep in a handler):
        # a number with more digits than `maximum` is out of range anyway, so it never gets that far.
        if not (text.isascii() and text.isdecimal()) or len(digits) > len(str(maximum)):
            raise ValueError(raw)
        value = int(digits or "0")
    else:
        raise ValueError(raw)
    if not minimum <= value <= maximum:
        raise ValueError(raw)
    return value


def whole_number_or_invalid(raw: object, minimum: int, maximum: int, problem: str) -> int:
    """whole_number for what a visitor or program sent: anything else is Invalid, saying `problem`."""
    try:
        return whole_number(raw, minimum, maximum)
    except ValueError:
        raise Invalid(problem) from None
