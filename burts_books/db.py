"""The only place that builds a MongoDB client.

Production talks to a real server through Motor. The embedded default uses
mongomock-motor (the same Motor API, in memory) and keeps its data in one
JSON file under var/, owned by one process at a time through an OS lock.
Swapping Motor for PyMongo's AsyncMongoClient later touches this module only.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
from pathlib import Path

from bson import ObjectId, json_util
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from .config import Settings

log = logging.getLogger(__name__)

__all__ = ["Database", "DuplicateKeyError", "StoreBusy", "object_id", "open_database"]


def object_id(value) -> ObjectId | None:
    """The ObjectId a string from a cookie or URL names, or None if it names none."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


class StoreBusy(Exception):
    """Another process owns the embedded store file."""


class Database:
    """A Motor database plus what it takes to close it cleanly."""

    def __init__(self, client, name: str, store: _EmbeddedStore | None = None):
        self.client = client
        self.db = client[name]
        self._store = store

    @property
    def embedded(self) -> bool:
        return self._store is not None

    def __getattr__(self, collection: str):
        return self.db[collection]

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
        self.client.close()


async def open_database(settings: Settings, *, persist: bool = True) -> Database:
    """Connect to MONGODB_URL, or open the embedded store.

    `persist=False` gives an embedded store that lives in memory only (tests).
    """
    if settings.mongodb_url:
        from motor.motor_asyncio import AsyncIOMotorClient

        client = AsyncIOMotorClient(settings.mongodb_url, tz_aware=False, connect=True)
        return Database(client, settings.mongodb_database)

    from mongomock_motor import AsyncMongoMockClient

    from . import embedded_engine

    embedded_engine.install()
    client = AsyncMongoMockClient()
    database = client[settings.mongodb_database]
    store = None
    if persist:
        store = _EmbeddedStore(settings.store_file, database)
        store.acquire()
        await store.load()
        store.start_autosave()
    return Database(client, settings.mongodb_database, store or _MemoryOnly())


class _MemoryOnly:
    async def close(self) -> None:
        pass


class _EmbeddedStore:
    """Loads the mongomock database from a JSON file and writes it back when it changes."""

    SAVE_INTERVAL = 1.0

    def __init__(self, path: Path, database):
        self.path = path
        self.database = database
        self._lock_file = None
        self._task: asyncio.Task | None = None
        self._last_digest = b""

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_suffix(".lock")
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise StoreBusy(
                f"the embedded store {self.path} is in use by {owner}; stop that "
                "process first (or point MONGODB_URL at a MongoDB server)"
            ) from None
        handle.truncate(0)
        handle.write(f"process {os.getpid()}")
        handle.flush()
        self._lock_file = handle

    async def load(self) -> None:
        if not self.path.exists():
            return
        dump = json_util.loads(self.path.read_text())
        for name, content in dump.items():
            collection = self.database[name]
            for index in content.get("indexes", []):
                # JSON turned each (field, direction) pair into a list; the driver wants tuples.
                keys = [tuple(pair) for pair in index["key"]]
                await collection.create_index(keys, **index["options"])
            if content["documents"]:
                await collection.insert_many(content["documents"])
        self._last_digest = hashlib.sha256(self.path.read_bytes()).digest()

    async def _dump(self) -> str:
        dump = {}
        for name in await self.database.list_collection_names():
            collection = self.database[name]
            indexes = []
            for index_name, info in (await collection.index_information()).items():
                if index_name == "_id_":
                    continue
                options = {k: v for k, v in info.items() if k not in ("key", "v", "ns")}
                indexes.append({"key": info["key"], "options": {"name": index_name, **options}})
            documents = await collection.find().to_list(None)
            dump[name] = {"indexes": indexes, "documents": documents}
        return json_util.dumps(dump, indent=1, sort_keys=True)

    async def save(self) -> None:
        text = await self._dump()
        digest = hashlib.sha256(text.encode()).digest()
        if digest == self._last_digest:
            return
        # Write, flush to disk, then rename: a crash or power cut leaves the old file or the new one.
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self._last_digest = digest

    def start_autosave(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._autosave())

    async def _autosave(self) -> None:
        while True:
            await asyncio.sleep(self.SAVE_INTERVAL)
            try:
                await self.save()
            except Exception:
                log.exception("could not save the embedded store")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await self.save()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
