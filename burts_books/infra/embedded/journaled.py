"""The embedded engine through Motor's API: reads as mongomock-motor gives them, writes that return once durable."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from mongomock_motor import AsyncMongoMockCollection, AsyncMongoMockDatabase

from .engine import EngineCollection

if TYPE_CHECKING:
    from .store import EmbeddedStore

# Every method of a Motor collection that changes data; each is journaled.
WRITES = frozenset({
    "bulk_write", "create_index", "create_indexes", "delete_many", "delete_one", "drop",
    "drop_index", "drop_indexes", "find_one_and_delete", "find_one_and_replace",
    "find_one_and_update", "insert_many", "insert_one", "replace_one", "update_many", "update_one",
})
# The ones of those that can change a collection's indexes (the others leave them be: no copy to compare).
INDEX_WRITES = frozenset({"create_index", "create_indexes", "drop", "drop_index", "drop_indexes"})
# Ones that would change data behind the journal's back.
REFUSED = frozenset({"rename", "map_reduce", "with_options"})


class JournaledCollection:
    def __init__(self, motor: AsyncMongoMockCollection, collection: EngineCollection, database: JournaledDatabase):
        self._motor = motor
        self._collection = collection
        self._store = database.store
        self.database = database  # as on Motor; the mongomock-motor one would write past the journal

    def __getattr__(self, name: str) -> Any:
        if name in WRITES:
            return functools.partial(self._write, name)
        if name in REFUSED:
            raise NotImplementedError(f"{name} is not journaled by the embedded store")
        return getattr(self._motor, name)

    def aggregate(self, pipeline: list, *args, **kwargs) -> Any:
        if any("$out" in stage or "$merge" in stage for stage in pipeline):
            raise NotImplementedError("$out and $merge are not journaled by the embedded store")
        return self._motor.aggregate(pipeline, *args, **kwargs)

    async def _write(self, method: str, *args, **kwargs) -> Any:
        self._store.before_write()
        # mongomock writes synchronously, so the capture holds exactly this write.
        with self._store.engine.capture() as changes:
            if method in INDEX_WRITES:
                changes.watch_indexes(self._collection._store)
            try:
                result = getattr(self._collection, method)(*args, **kwargs)
            except Exception as error:
                # What it changed before failing (an insert_many cut short) stays, as on a server.
                failure: Exception | None = error
            else:
                failure = None
        await self._store.make_durable(changes)
        if failure is not None:
            raise failure
        return result


class JournaledDatabase:
    def __init__(self, motor: AsyncMongoMockDatabase, store: EmbeddedStore):
        self._motor = motor
        self.store = store
        self._collections: dict[str, JournaledCollection] = {}

    def __getitem__(self, name: str) -> JournaledCollection:
        if name not in self._collections:
            collection = self.store.engine.collection(self._motor.delegate, name)
            # mongomock-motor wraps mongomock collections; motor's stubs only know real ones.
            motor: AsyncMongoMockCollection = AsyncMongoMockCollection(self._motor, collection)  # type: ignore[arg-type]
            # It also rebuilds every filter and sort on the way in, to turn beanie's string-like
            # fields into str (seven times in a cart add); the shop sends plain values only. These
            # are its internals (0.0.36, pinned in setup.cfg).
            del collection._iter_documents, collection._get_dataset
            self._collections[name] = JournaledCollection(motor, collection, self)
        return self._collections[name]

    def __getattr__(self, name: str) -> JournaledCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    async def list_collection_names(self) -> list[str]:
        return await self._motor.list_collection_names()
