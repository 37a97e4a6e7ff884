"""What the shop refuses, as domain errors; the web layer gives each its HTTP status (web/base.py, status_of).

Every message is written for the person or program that made the request.
"""

from __future__ import annotations

from collections.abc import Mapping


class ShopError(Exception):
    """A request the shop refuses; nothing was changed."""


class Invalid(ShopError, ValueError):
    """Bad input."""


class ValidationError(Invalid):
    """Bad form input: `errors` maps each field to a message for the person who typed it."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class NotFound(ShopError, LookupError):
    """The thing asked for does not exist (or is not the asker's to see)."""


class NotSignedIn(ShopError):
    """Only a signed-in person may do this."""


class NotAllowed(ShopError):
    """The signed-in person may not do this."""


class Conflict(ShopError):
    """The request clashes with the current state (sold out, changed meanwhile)."""


class TooMany(ShopError):
    """Asked too often, or while the shop is too busy: `retry_after` says how many seconds to wait."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class BadImportFile(Invalid):
    """An import file that can't be read as a whole (wrong header, not UTF-8, malformed XML)."""
