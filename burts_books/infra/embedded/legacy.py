"""The store's former one-file format, var/embedded-store.json, read once to import it."""

from __future__ import annotations

from pathlib import Path

from bson import json_util
from mongomock.helpers import patch_datetime_awareness_in_document

from .errors import StoreDamaged
from .records import CollectionData, State, document_key


def read_legacy_store(path: Path) -> State:
    try:
        dump = json_util.loads(path.read_text())
        state: State = {}
        for name, content in dump.items():
            indexes = {}
            for index in content["indexes"]:
                options = dict(index["options"])
                indexes[options.pop("name")] = {"key": [tuple(pair) for pair in index["key"]], **options}
            documents = {
                document_key(document["_id"]): patch_datetime_awareness_in_document(document)
                for document in content["documents"]
            }
            state[name] = CollectionData(indexes, documents)
        return state
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise StoreDamaged(
            f"the embedded store file {path} cannot be imported ({type(error).__name__}: {error}): "
            "restore it from a backup, or move it away to start an empty store"
        ) from None
