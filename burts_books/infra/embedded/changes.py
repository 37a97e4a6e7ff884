"""What one write changed: documents as they were (to undo it) and as it left them (to journal it)."""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

import bson
from bson.raw_bson import RawBSONDocument

if TYPE_CHECKING:
    from .engine import EngineCollectionStore

ABSENT: Any = object()  # no such document


@dataclasses.dataclass
class _Before:
    """A document as the write found it."""

    document: Any  # its BSON, or ABSENT
    place: int | None  # in the collection's natural order
    fields: frozenset[str] | None  # the only top-level fields the write changed in place; None: any


class ChangeSet:
    """Documents are remembered as BSON: cheaper than a deep copy, compared exactly (Python's ==
    calls 1, 1.0 and True the same), and an undone write leaves them as a restart would read them.
    """

    def __init__(self) -> None:
        self._before: dict[tuple[EngineCollectionStore, Any], _Before] = {}
        self._indexes_before: dict[EngineCollectionStore, dict] = {}

    def remember(self, store: EngineCollectionStore, key: Any, fields: frozenset[str] | None = None) -> None:
        """Called before a document changes (in place, in only `fields` when given); only its first
        state in this write counts."""
        known = self._before.get((store, key))
        if known is None:
            document = store.documents_by_key.get(key, ABSENT)
            before = ABSENT if document is ABSENT else bson.encode(document)
            self._before[(store, key)] = _Before(before, store.order.get(key), None if before is ABSENT else fields)
        elif known.fields is not None:
            known.fields = None if fields is None else known.fields | fields

    def watch_indexes(self, store: EngineCollectionStore) -> None:
        self._indexes_before.setdefault(store, copy.deepcopy(store.indexes))

    def record(self) -> bytes | None:
        """The journal record of what changed (see records.py), or None when nothing did."""
        ops: list[dict] = []
        for store, before in self._indexes_before.items():
            if store.indexes != before:
                ops.append({"c": store.name, "indexes": store.indexes})
        for (store, key), found in self._before.items():
            after = store.documents_by_key.get(key, ABSENT)
            if after is ABSENT:
                if found.document is not ABSENT:
                    ops.append({"c": store.name, "del": key})
                continue
            encoded = bson.encode(after)
            if encoded == found.document:
                continue
            fields = found.fields
            if fields is None:
                ops.append({"c": store.name, "put": RawBSONDocument(encoded)})
            else:  # a book's stock changes two fields of a kilobyte or more
                ops.append({"c": store.name, "id": after["_id"],
                            "set": {field: value for field, value in after.items() if field in fields},
                            "unset": [field for field in fields if field not in after]})
        return bson.encode({"ops": ops}) if ops else None

    def undo(self) -> None:
        returned = set()
        for (store, key), before in reversed(self._before.items()):
            document = before.document
            if store.restore(key, ABSENT if document is ABSENT else bson.decode(document), before.place):
                returned.add(store)
        for store in returned:
            store.settle_order()
        for store, indexes in self._indexes_before.items():
            store.indexes = indexes
