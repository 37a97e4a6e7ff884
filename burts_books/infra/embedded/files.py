"""Owner-only store files, and making their names durable."""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def create_file(path: Path) -> int:
    """A new, empty owner-only file, its name on disk; returns a descriptor for appending."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        sync_folder(path.parent)
    except OSError:
        os.close(fd)
        path.unlink()
        raise
    return fd


def sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
