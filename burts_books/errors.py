"""Errors the domain modules raise and the web layer turns into 4xx answers."""

from __future__ import annotations

from typing import Mapping


class ValidationError(Exception):
    """Bad input: `errors` maps each form field to a message for the person who typed it."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class NotFound(LookupError):
    """The thing asked for does not exist."""


class BadImportFile(ValueError):
    """An import file that can't be read as a whole (wrong header, not UTF-8, malformed XML)."""
