"""Whole numbers typed by people or sent by programs, parsed one way everywhere."""

from __future__ import annotations

from .errors import Invalid

# int() refuses more than 4300 digits (ValueError deep in a handler); nothing
# we accept needs more than nine.
MAX_DIGITS = 9
LARGEST = 10**MAX_DIGITS - 1  # for counters with no bound of their own (versions)


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
        if not (text.isascii() and text.isdecimal()) or len(text) > MAX_DIGITS:
            raise ValueError(raw)
        value = int(text)
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
