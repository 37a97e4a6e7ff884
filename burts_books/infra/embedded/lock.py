"""One process owns the store at a time: an OS lock (flock) on a file beside it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import StoreBusy


class StoreLock:
    """Held from `acquire` until `release`; the lock file names the process that holds it."""

    def __init__(self, path: Path, store: Path):
        self.path = path
        self.store = store
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreBusy(
                f"the embedded store {self.store} is in use by {owner}; stop that "
                "process first (or point MONGODB_URL at a MongoDB server)"
            ) from None
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()}".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
