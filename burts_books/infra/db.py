"""The only place that builds a MongoDB client.

Production talks to a real server through Motor. The embedded default uses
mongomock-motor (the same Motor API, in memory) on the embedded engine in
burts_books/infra/embedded/, which keeps every acknowledged write on disk under
var/ and lets one process at a time own it. Swapping Motor for PyMongo's
AsyncMongoClient later touches this module only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from .config import Settings
from .embedded import EmbeddedStore, StoreBusy, StoreDamaged, StoreWriteFailed

__all__ = [
    "Database", "DuplicateKeyError", "StoreBusy", "StoreDamaged", "StoreWriteFailed", "object_id", "open_database",
]


def object_id(value) -> ObjectId | None:
    """The ObjectId a string from a cookie or URL names, or None if it names none."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


class Database:
    """A Motor database plus what it takes to close it cleanly."""

    def __init__(self, client, name: str, store: EmbeddedStore | None = None):
        self.client = client
        self.store = store
        self.db = store.database(client[name]) if store is not None else client[name]

    @property
    def embedded(self) -> bool:
        return self.store is not None

    def __getattr__(self, collection: str):
        return self.db[collection]

    def writes_together(self) -> contextlib.AbstractAsyncContextManager[None]:
        """`async with db.writes_together():` the writes inside are waited for once, at the end, instead
        of one by one: on the embedded store, one group commit for all (embedded/together.py). A server
        acknowledges each write as it makes it, so there nothing changes."""
        if self.store is not None:
            return self.store.writes_together()
        return contextlib.nullcontext()

    async def when_durable(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` once the writes made so far are durable (at the end of `writes_together`)."""
        if self.store is not None:
            await self.store.when_durable(action)
        else:
            await action()

    def versions(self, *documents: tuple[str, Any]) -> tuple[int, ...] | None:
        """Numbers that stay the same until one of these documents (collection name, `_id`) changes,
        so that what was read from them can be kept: on the embedded store, which only this process
        writes. None on a server, where another process may write at any moment."""
        if self.store is None:
            return None
        return tuple([self.store.version(collection, _id) for collection, _id in documents])

    def scan(self, collection: str, fields: tuple[str, ...] | None = None,
             criteria: dict | None = None) -> AsyncIterator[dict]:
        """The documents of `collection` matching `criteria` (all: None), with only `fields` (None: all
        but `_id`), for work that reads through a whole collection.

        A server streams them from a cursor; the embedded store reads its memory in
        slices (infra/slices.py), so a scan never holds the event loop for long.
        """
        if self.store is not None:
            return self.store.scan(collection, fields, criteria)
        return self.db[collection].find(criteria or {}, {"_id": 0} if fields is None else dict.fromkeys(fields, 1))

    def build_indexes(self) -> None:
        """Before a shop serves: the embedded store builds its indexes (a server has its own)."""
        if self.store is not None:
            self.store.build_indexes()

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()
        self.client.close()


async def open_database(settings: Settings, *, persist: bool = True) -> Database:
    """Connect to MONGODB_URL, or open the embedded store.

    `persist=False` gives an embedded store that lives in memory only (tests).
    """
    if settings.mongodb_url:
        from motor.motor_asyncio import AsyncIOMotorClient

        client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
            settings.mongodb_url, tz_aware=False, connect=True
        )
        return Database(client, settings.mongodb_database)

    from mongomock import MongoClient
    from mongomock_motor import AsyncMongoMockClient

    store = EmbeddedStore(settings.mongodb_database, settings.store_compact_bytes)
    client = AsyncMongoMockClient(mock_mongo_client=MongoClient(_store=store.engine.server_store))
    if persist:
        store.open(settings.store_dir)
    return Database(client, settings.mongodb_database, store)
