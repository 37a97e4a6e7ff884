"""What the embedded store's engine (mongomock) lacks to stand in for MongoDB.

mongomock finds documents by scanning them all, and checks a unique index
on every write by scanning them all again: with tens of thousands of books
each lookup by ISBN costs a full scan, and writing N books costs N² (a
20,000-book import, or loading such a store, would take many minutes).
Here lookups and unique checks on single-field unique indexes (`isbn`,
`email`) and on `_id` use hash maps, as MongoDB uses its indexes.
Also, current PyMongo passes `sort=` when it builds a bulk update or replace,
which mongomock's bulk builder refuses.

db.py calls `install()` before it builds an embedded client.
"""

from __future__ import annotations

from collections.abc import Mapping

from bson import ObjectId
from mongomock import DuplicateKeyError, helpers
from mongomock.collection import BulkOperationBuilder, Collection
from mongomock.filtering import filter_applies

# Values a map may hold: hashable, and equal in Python exactly when equal in
# MongoDB (unlike True == 1 or 1 == 1.0, which MongoDB index as different types).
_MAPPABLE = (str, int, ObjectId)


def _mappable(value) -> bool:
    return isinstance(value, _MAPPABLE) and not isinstance(value, bool)


def _mapped_field(index: dict) -> str | None:
    """The field of a unique index a map can serve: one plain field, every document indexed."""
    if (not index.get("unique") or len(index["key"]) != 1 or index.get("sparse")
            or index.get("partialFilterExpression") is not None):
        return None
    field = index["key"][0][0]
    return None if "." in field else field


def _owners(store, field: str, index: dict, skip_id=None) -> dict | None:
    """value -> _id of the document holding it, or None when some value can't be mapped.

    Built by one scan the first time, then kept up to date by every write's
    unique check (`_ensure_uniques`). Deletes and updates may leave an entry
    behind, so `_holder` checks each hit against the document itself. The
    map belongs to this index object: a dropped and re-created index starts over.
    """
    maps = store.__dict__.setdefault("_unique_value_maps", {})
    entry = maps.get(field)
    if entry is None or entry[0] is not index:
        owners: dict | None = {}
        for document in store._documents.values():
            value, _id = document.get(field), document["_id"]
            if not (_mappable(value) and _mappable(_id)):
                owners = None
                break
            if _id != skip_id:
                owners.setdefault(value, _id)
        entry = maps[field] = (index, owners)
    return entry[1]


def _stop_mapping(store, field: str, index: dict) -> None:
    store.__dict__.setdefault("_unique_value_maps", {})[field] = (index, None)


def _holder(store, owners: dict, field: str, value) -> dict | None:
    _id = owners.get(value)
    document = store._documents.get(_id) if _id is not None else None
    return document if document is not None and document.get(field) == value else None


def _candidates(store, filter) -> tuple[list[dict], dict] | None:
    """The only documents `filter` can match, when `_id` or a mapped unique field pins them down,
    and what else they must match."""
    if not isinstance(filter, Mapping):
        return None
    if _mappable(filter.get("_id")):
        document = store._documents.get(filter["_id"])
        return ([] if document is None else [document]), filter
    for index in store.indexes.values():
        field = _mapped_field(index)
        if field is None or field not in filter:
            continue
        condition = filter[field]
        if _mappable(condition):
            values = [condition]
        elif isinstance(condition, Mapping) and list(condition) == ["$in"] and all(
                _mappable(v) for v in condition["$in"]):
            values = list(dict.fromkeys(condition["$in"]))
        else:
            continue
        owners = _owners(store, field, index)
        if owners is not None:
            found = [d for d in (_holder(store, owners, field, v) for v in values) if d is not None]
            # Each holds one of the values, which is all that condition asks.
            return found, {k: v for k, v in filter.items() if k != field}
    return None


_scan_documents = Collection._iter_documents


def _iter_documents(self, filter):
    store = self._store
    if store.is_empty:  # also expires TTL documents, as the scan would
        return _scan_documents(self, filter)
    found = _candidates(store, filter)
    if found is None:
        return _scan_documents(self, filter)
    candidates, rest = found
    if not candidates:
        filter_applies(filter, {})  # an invalid filter still fails, as the scan would make it
    return (document for document in candidates if filter_applies(rest, document))


def _scan_unique(collection, index: dict, new_data: dict) -> None:
    """mongomock's own check of one unique index: count the documents holding new_data's key."""
    criteria = {}
    for key, _direction in index["key"]:
        try:
            criteria[key] = helpers.get_value_by_dot(new_data, key)
        except KeyError:
            criteria[key] = None
    if index.get("sparse") and set(criteria.values()) == {None}:
        return
    if index.get("partialFilterExpression") is not None:
        criteria = {"$and": [index["partialFilterExpression"], criteria]}
    if len(list(collection._iter_documents(criteria))) > 1:
        raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)


def _ensure_uniques(self, new_data):
    # Called by mongomock after it has put new_data in the store (insert, update, upsert).
    store = self._store
    claims = []
    for index in list(store.indexes.values()):
        if not index.get("unique"):
            continue
        field = _mapped_field(index)
        owners = None if field is None else _owners(store, field, index, skip_id=new_data["_id"])
        if owners is not None and not (_mappable(new_data.get(field)) and _mappable(new_data["_id"])):
            _stop_mapping(store, field, index)
            owners = None
        if owners is None:
            _scan_unique(self, index, new_data)
            continue
        holder = _holder(store, owners, field, new_data[field])
        if holder is not None and holder["_id"] != new_data["_id"]:
            raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
        claims.append((owners, new_data[field]))
    # Only once every index accepted the document (mongomock rolls back otherwise).
    for owners, value in claims:
        owners[value] = new_data["_id"]


_add_update = BulkOperationBuilder.add_update
_add_replace = BulkOperationBuilder.add_replace


def _no_sort(sort) -> None:
    if sort:
        raise NotImplementedError("the embedded store does not sort bulk updates")


def _add_update_sorted(self, selector, doc, multi=False, upsert=False, *, sort=None, **options):
    _no_sort(sort)
    return _add_update(self, selector, doc, multi, upsert, **options)


def _add_replace_sorted(self, selector, doc, upsert, *, sort=None, **options):
    _no_sort(sort)
    return _add_replace(self, selector, doc, upsert, **options)


def install() -> None:
    """Patch mongomock once per process (idempotent)."""
    Collection._iter_documents = _iter_documents
    Collection._ensure_uniques = _ensure_uniques
    BulkOperationBuilder.add_update = _add_update_sorted
    BulkOperationBuilder.add_replace = _add_replace_sorted
