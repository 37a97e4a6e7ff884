"""Schema and data migrations: ordered files in migrations/, each applied once.

Each file `NNNN_name.py` defines `async def up(db)`; applied ones are recorded
in the `migrations` collection. A lock document (unique `_id`) makes two
processes starting together apply them one at a time; each `up` is also
written to be harmless if run again.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib.util
import logging
import re
import uuid
from pathlib import Path

from . import resources
from .clock import utcnow
from .db import Database, DuplicateKeyError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = resources.MIGRATIONS
_NAME = re.compile(r"\d{4}_\w+\.py")
LOCK_ID = "lock"
LOCK_SECONDS = 120
_PROCESS = uuid.uuid4().hex  # names this process in the locks it takes


class MigrationsPending(Exception):
    """The database is behind the code; the message says what to run."""


class MigrationsBusy(Exception):
    """Another process held the lock for longer than we wait; the message says what to do."""


def available(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(p for p in directory.iterdir() if _NAME.fullmatch(p.name))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"burts_books_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load migration {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def applied(db: Database) -> set[str]:
    names = await db.migrations.distinct("_id", {"applied_at": {"$exists": True}})
    return set(names)


async def pending(db: Database, directory: Path = MIGRATIONS_DIR) -> list[str]:
    done = await applied(db)
    return [p.stem for p in available(directory) if p.stem not in done]


async def ensure_current(db: Database) -> None:
    missing = await pending(db)
    if missing:
        raise MigrationsPending(
            f"the database is missing migrations {', '.join(missing)}: run `burts-books migrate`"
        )


async def migrate(db: Database, directory: Path = MIGRATIONS_DIR, wait: float = 60.0) -> list[str]:
    """Apply what is pending; return the names applied by this call."""
    owner = uuid.uuid4().hex
    if db.embedded:
        # Only one process at a time opens the embedded store (its file lock), so a lock another process
        # left in it is one that died part-way (kill -9): waiting for it to expire would stall this start.
        await db.migrations.delete_one({"_id": LOCK_ID, "process": {"$ne": _PROCESS}})
    await _acquire(db, owner, wait)
    try:
        done = await applied(db)
        ran = []
        for path in available(directory):
            if path.stem in done:
                continue
            log.info("applying migration %s", path.stem)
            await _load(path).up(db)
            await db.migrations.update_one(
                {"_id": path.stem}, {"$set": {"applied_at": utcnow()}}, upsert=True
            )
            ran.append(path.stem)
        return ran
    finally:
        await db.migrations.delete_one({"_id": LOCK_ID, "owner": owner})


async def _acquire(db: Database, owner: str, wait: float) -> None:
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            await db.migrations.insert_one({
                "_id": LOCK_ID, "owner": owner, "process": _PROCESS,
                "expires": utcnow() + datetime.timedelta(seconds=LOCK_SECONDS),
            })
            return
        except DuplicateKeyError:
            # A holder that died leaves its lock behind; take over once it has expired.
            await db.migrations.delete_one({"_id": LOCK_ID, "expires": {"$lt": utcnow()}})
        if asyncio.get_running_loop().time() > deadline:
            raise MigrationsBusy(
                f"another process has been migrating the database for over {wait:g} s: let it finish, then run "
                f"this again (the lock of one that died lapses {LOCK_SECONDS} s after it was taken)"
            )
        await asyncio.sleep(0.2)
