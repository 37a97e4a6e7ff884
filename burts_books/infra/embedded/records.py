"""The store's data as plain dicts, and the journal records that change it.

Shared by the serving process (loading at start) and the compaction
subprocess, which works from the files alone.

A journal record is one BSON document per acknowledged write:

    {"ops": [{"c": collection, "put": document}      the whole document as the write left it
           | {"c": collection, "id": _id, "set": {field: value}, "unset": [field]}
                                                      the top-level fields an update changed, as it left them
           | {"c": collection, "del": _id}
           | {"c": collection, "indexes": {name: spec}}, ...]}   the collection's indexes after it

Values, not operations: replaying is a plain put, assignment or delete, and
replaying a record twice changes nothing. An update in place journals only
the fields it named (a cart add changes two fields of a book); anything else
journals the whole document.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mongomock.helpers import hashdict


@dataclasses.dataclass
class CollectionData:
    indexes: dict[str, dict] = dataclasses.field(default_factory=dict)
    # Keyed like mongomock keys its documents; dict order is the collection's natural order.
    documents: dict[Any, dict] = dataclasses.field(default_factory=dict)


State = dict[str, CollectionData]


def document_key(_id: Any) -> Any:
    """The key mongomock files a document under: its _id, made hashable if it is a subdocument."""
    return hashdict(_id) if isinstance(_id, dict) else _id


def index_specs(raw: Mapping[str, Mapping]) -> dict[str, dict]:
    """Index specs as mongomock keeps them; BSON turned each (field, direction) pair into a list."""
    return {name: {**spec, "key": [tuple(pair) for pair in spec["key"]]} for name, spec in raw.items()}


def apply(state: State, record: Mapping) -> None:
    for op in record["ops"]:
        collection = state.setdefault(op["c"], CollectionData())
        if "put" in op:
            # An existing key keeps its place, as an update in place does in mongomock.
            collection.documents[document_key(op["put"]["_id"])] = op["put"]
        elif "set" in op:
            # As mongomock updates in place: a field it had keeps its place, a new one goes last.
            document = collection.documents[document_key(op["id"])]
            document.update(op["set"])
            for field in op["unset"]:
                document.pop(field, None)
        elif "del" in op:
            collection.documents.pop(document_key(op["del"]), None)
        else:
            collection.indexes = index_specs(op["indexes"])
