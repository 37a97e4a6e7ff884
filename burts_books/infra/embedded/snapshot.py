"""The snapshot: every collection as of the end of journal segment `through`, in one checked file.

A sequence of frames, each one BSON document:

    {"snapshot": 1, "through": N}             first
    {"collection": name, "indexes": {...}}    then for each collection
    {"documents": [...]}                      its documents in chunks, in their natural order
    {"end": number of documents}              last: a file without it was cut short

A new snapshot is written beside the old one and renamed over it once it is
on disk, so a crash leaves one or the other, whole. A damaged snapshot is
never written over: the store refuses to start and says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

import bson

from .errors import StoreDamaged
from .files import FILE_MODE, sync_folder
from .frames import frame, read_frames
from .records import CollectionData, State, document_key, index_specs

FORMAT = 1
CHUNK = 1000


def snapshot_path(folder: Path) -> Path:
    return folder / "snapshot"


def write_snapshot(path: Path, state: State, through: int) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as out:
        out.write(frame(bson.encode({"snapshot": FORMAT, "through": through})))
        total = 0
        for name, collection in state.items():
            out.write(frame(bson.encode({"collection": name, "indexes": collection.indexes})))
            documents = list(collection.documents.values())
            for start in range(0, len(documents), CHUNK):
                out.write(frame(bson.encode({"documents": documents[start:start + CHUNK]})))
            total += len(documents)
        out.write(frame(bson.encode({"end": total})))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    sync_folder(path.parent)


def read_snapshot(path: Path) -> tuple[State, int]:
    """(the collections, the last journal segment they include); StoreDamaged if the file is not whole."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StoreDamaged.file(path, f"unreadable: {error.strerror}") from None
    payloads, intact = read_frames(data)
    if intact < len(data):
        raise StoreDamaged.file(path, f"bad checksum or cut short at byte {intact}")
    try:
        parts = [bson.decode(payload) for payload in payloads]
    except bson.errors.BSONError as error:
        raise StoreDamaged.file(path, f"unreadable record: {error}") from None
    if not parts or parts[0].get("snapshot") != FORMAT:
        raise StoreDamaged.file(path, "not a snapshot this version can read")
    if "end" not in parts[-1]:
        raise StoreDamaged.file(path, "cut short")
    state: State = {}
    current = None
    for part in parts[1:-1]:
        if "collection" in part:
            current = state[part["collection"]] = CollectionData(index_specs(part["indexes"]))
        elif current is not None and "documents" in part:
            current.documents.update((document_key(d["_id"]), d) for d in part["documents"])
        else:
            raise StoreDamaged.file(path, "records out of order")
    if sum(len(c.documents) for c in state.values()) != parts[-1]["end"]:
        raise StoreDamaged.file(path, "documents missing")
    return state, parts[0]["through"]
