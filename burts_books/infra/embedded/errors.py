"""What the embedded store tells its callers when it cannot do what they asked."""

from __future__ import annotations

from pathlib import Path


class StoreBusy(Exception):
    """Another process owns the embedded store."""


class StoreDamaged(Exception):
    """A store file cannot be read back; the message is one line saying which and what to do."""

    @classmethod
    def file(cls, path: Path, reason: str, first: str = "") -> StoreDamaged:
        """`first`: what to try before the rest, where the damage may be something else."""
        return cls(
            f"the embedded store file {path} is damaged ({reason}) and was left as it is: {first}restore the "
            f"store from a backup (losing the writes made since), or move the folder {path.parent} away to "
            "start an empty store (losing everything in it)"
        )


class StoreWriteFailed(Exception):
    """A write could not be made durable, so it was undone; nothing changed."""

    MESSAGE = "The shop could not save this change, so nothing was changed. Please try again in a moment."

    def __init__(self, message: str = MESSAGE):
        super().__init__(message)
