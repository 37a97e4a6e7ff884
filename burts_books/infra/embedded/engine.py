"""mongomock, extended with hash indexes and change capture. Relies on mongomock 4.3.0 internals.

mongomock keeps a collection's documents in `CollectionStore._documents` and
changes them in exactly three ways: `store[key] = document` (an insert, or
putting a document back after a failed update), `del store[key]`, and
updating a stored document in place (`Collection._apply_update_document` and
`_apply_update_pipeline`). The subclasses here hook those three, to keep the
hash indexes current and to tell the engine what the running write changed;
and `Collection._iter_documents`, the one source of the documents every
query, update and delete tests, to hand it the index's candidates instead of
the whole collection; and `bulk_write`, to let PyMongo's bulk requests in.
The same hooks number each document's changes (`version`), so what was read
from one can be kept until it changes. Reads also copy what they return
faster (`_copy_only_fields`), and `find_one` on an indexed field skips the
cursor. setup.cfg pins mongomock to the version read.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import datetime
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from bson import ObjectId
from mongomock.collection import BulkOperationBuilder, Collection, validate_is_mapping
from mongomock.database import Database
from mongomock.filtering import filter_applies
from mongomock.helpers import patch_datetime_awareness_in_document
from mongomock.results import BulkWriteResult
from mongomock.store import CollectionStore, DatabaseStore, ServerStore
from pymongo.errors import DuplicateKeyError, WriteError

from .changes import ABSENT, ChangeSet
from .indexes import LOOKUP_TYPES, HashIndexes, equal_values
from .records import CollectionData, State, document_key


class EngineCollectionStore(CollectionStore):
    def __init__(self, name: str, engine: Engine):
        self.engine = engine
        self.hash_indexes = HashIndexes()
        self.order: dict[Any, int] = {}  # key -> place in the natural order, which candidates keep
        self._places = itertools.count()
        self._versions: dict[Any, int] = {}  # key -> the engine's write count when it last changed
        super().__init__(name)

    @property
    def documents_by_key(self) -> dict:
        return self._documents

    # drop_indexes() assigns `indexes` whole: a property keeps the hash indexes in step.
    @property
    def indexes(self) -> dict:
        return self._indexes

    @indexes.setter
    def indexes(self, value: dict) -> None:
        self._indexes = value
        self._ttl_indexes = {name: spec for name, spec in value.items() if spec.get("expireAfterSeconds") is not None}
        fields = {spec["key"][0][0] for spec in value.values()}
        # Top-level fields only: `_id` is the document dict itself, dotted paths stay scans.
        self.hash_indexes.set_fields({f for f in fields if f != "_id" and "." not in f})

    def create_index(self, index_name: str, index_dict: dict) -> None:
        super().create_index(index_name, index_dict)
        self.indexes = self._indexes

    def drop_index(self, index_name: str) -> None:
        super().drop_index(index_name)
        self.indexes = self._indexes

    def version(self, key: Any) -> int:
        """A number that differs whenever the document filed under `key` has changed: -1 while there
        is none, 0 for one unchanged since start-up, else the engine's count of writes when it last changed."""
        return self._versions.get(key, 0 if key in self._documents else -1)

    def __setitem__(self, key: Any, document: dict) -> None:
        self.engine.changing(self, key)
        if key in self._documents:
            self.hash_indexes.remove(key)
        else:
            self.order[key] = next(self._places)
        super().__setitem__(key, document)
        self.hash_indexes.add(key, document)
        self._versions[key] = self.engine.count_write()

    def __delitem__(self, key: Any) -> None:
        self.engine.changing(self, key)
        super().__delitem__(key)
        self.hash_indexes.remove(key)
        del self.order[key]
        self._versions.pop(key, None)

    def drop(self) -> None:
        for key in self._documents:
            self.engine.changing(self, key)
        super().drop()  # and with the indexes gone, so are the hash indexes
        self.order.clear()
        self._versions.clear()

    def updated_in_place(self, key: Any) -> None:
        self.hash_indexes.remove(key)
        self.hash_indexes.add(key, self._documents[key])
        self._versions[key] = self.engine.count_write()

    def restore(self, key: Any, document: Any, place: int | None) -> bool:
        """Undo: put a document back as it was before a write (or remove it).

        True when a deleted document came back: call `settle_order` once all are back.
        """
        if document is ABSENT:
            if key in self._documents:
                del self[key]
            return False
        returning = key not in self._documents
        self[key] = document
        if returning and place is not None:  # a deleted document was recorded with its place
            self.order[key] = place
        return returning

    def settle_order(self) -> None:
        """Documents that came back go to their old places, not the end."""
        ordered = sorted(self._documents.items(), key=lambda item: self.order[item[0]])
        self._documents = collections.OrderedDict(ordered)

    def load(self, data: CollectionData) -> None:
        """Start-up: take all documents at once (mongomock's insert checks uniqueness by a scan each)."""
        self._documents = collections.OrderedDict(data.documents)
        self._versions.clear()
        self.order = {key: place for place, key in enumerate(self._documents)}
        self._places = itertools.count(len(self.order))
        self.indexes = data.indexes

    def candidates(self, filter: dict) -> list[dict] | None:
        """The documents that can match `filter`, in natural order; None when it takes a scan."""
        if self._ttl_indexes:
            return None  # expiry runs as a scan goes through the documents
        keys = self.hash_indexes.narrowest(filter, self._documents)
        if keys is None:
            return None
        ordered = sorted(keys, key=self.order.__getitem__) if len(keys) > 1 else keys  # one key: no order to keep
        return [self._documents[key] for key in ordered]


class EngineDatabaseStore(DatabaseStore):
    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine

    def __getitem__(self, name: str) -> EngineCollectionStore:
        if name not in self._collections:
            self._collections[name] = EngineCollectionStore(name, self.engine)
        return self._collections[name]


class _BulkWithoutSort(BulkOperationBuilder):
    """PyMongo 4.9+ hands every bulk update and replace a `sort=`; mongomock 4.3 takes none.

    Unsorted ones (all the shop sends) run as before; a real sort is refused.
    """

    def add_update(self, selector, doc, multi=False, upsert=False, collation=None, array_filters=None,
                   hint=None, sort=None):
        _refuse_sort(sort)
        return super().add_update(selector, doc, multi, upsert, collation, array_filters, hint)

    def add_replace(self, selector, doc, upsert, collation=None, hint=None, sort=None):
        _refuse_sort(sort)
        return super().add_replace(selector, doc, upsert, collation, hint)


def _refuse_sort(sort: Any) -> None:
    if sort:
        raise NotImplementedError("the embedded store does not sort bulk updates")


# Stored values no write changes in place: a read can hand out the stored one (copy.copy would
# build a new datetime each time, and a read of an account copies a dozen of them).
_SHARED_TYPES = frozenset({str, int, float, bool, type(None), bytes, datetime.datetime, ObjectId})


def copied(value: Any, container: type = dict) -> Any:
    """A stored document or value as a read returns it: what mongomock's copy gives, faster."""
    kind = type(value)
    if kind in _SHARED_TYPES:
        return value
    if kind is dict and container is dict:  # a document: most fields are shared as they are, without a call each
        return {key: item if type(item) in _SHARED_TYPES else copied(item) for key, item in value.items()}
    if isinstance(value, dict):
        return container((key, copied(item, container)) for key, item in value.items())
    if isinstance(value, list):
        return [copied(item, container) for item in value]
    return copy.copy(value)


class EngineCollection(Collection):
    """A mongomock collection that queries through the hash indexes and reports in-place updates."""

    def bulk_write(self, requests, ordered=True, bypass_document_validation=False, session=None):
        if bypass_document_validation or session:
            return super().bulk_write(requests, ordered, bypass_document_validation, session)  # refuses them
        bulk = _BulkWithoutSort(self, ordered=ordered)
        for operation in requests:
            operation._add_to_bulk(bulk)
        return BulkWriteResult(bulk.execute(), True)

    def _iter_documents(self, filter: dict) -> Iterable[dict]:
        documents = self._store.candidates(filter)
        if documents is None:
            return super()._iter_documents(filter)
        return _matching(filter, documents)

    def find_one(self, filter=None, projection=None, *args, sort=None, **kwargs):
        # Every request reads its account and cart by _id, and a cart add its book's state (also
        # inside find_one_and_update, which passes sort=None): with at most a projection, and
        # candidates from an index, no cursor is built for the one document.
        if args or kwargs or sort or type(filter) is not dict or self.codec_options.tz_aware:
            return super().find_one(filter, projection, *args, sort=sort, **kwargs)
        spec = _patched(filter)
        documents = self._store.candidates(spec)
        if documents is None:
            return super().find_one(filter, projection)
        found = next(_matching(spec, documents), None)
        return None if found is None else self._copy_only_fields(found, projection, dict)

    def _update(self, spec, document, upsert=False, manipulate=False, multi=False, check_keys=False, hint=None,
                session=None, collation=None, let=None, array_filters=None, **kwargs):
        # mongomock's own, for the updates the shop sends (operators, on documents that exist), but for
        # the snapshot each update takes to tell whether it changed anything and to roll back: a deep
        # copy of a whole book, keywords and all, was a tenth of every cart add.
        options = {"hint": hint, "session": session, "collation": collation, "let": let, "array_filters": array_filters}
        if upsert or manipulate or check_keys or kwargs or any(options.values()) or type(document) is not dict \
                or not document or any(not key.startswith("$") or not value for key, value in document.items()):
            return super()._update(spec, document, upsert, manipulate, multi, check_keys, **options, **kwargs)
        spec = _patched(spec)
        validate_is_mapping("spec", spec)
        document = _patched(document)
        matched = modified = 0
        for existing in self._iter_documents(spec):
            matched += 1
            before = copied(existing)
            self._apply_update_document(existing, spec, document, False)
            if existing != before:
                if before.get("_id") != existing.get("_id"):
                    self._store[before["_id"]] = before
                    raise WriteError("After applying the update, the (immutable) field '_id' was found to have "
                                     f"been altered to _id: {existing.get('_id')}")
                try:
                    self._ensure_uniques(existing)
                except DuplicateKeyError:
                    self._store[before["_id"]] = before
                    raise
                modified += 1
            if not multi:
                break
        return {"connectionId": self.database.client._id, "err": None, "n": matched, "nModified": modified,
                "ok": 1, "upserted": None, "updatedExisting": matched > 0}

    def _copy_only_fields(self, doc, fields, container):
        if not fields:  # the whole document (PyMongo 4 reads an empty projection so too)
            return copied(doc, container)
        if container is dict and type(fields) is dict:
            projected = _projected(doc, fields)
            if projected is not None:
                return projected
        return super()._copy_only_fields(doc, fields, container)

    def _apply_update_document(self, existing_document: dict, spec: Any, document: Any, *args) -> None:
        with self._updating(existing_document, fields_updated(document)):
            super()._apply_update_document(existing_document, spec, document, *args)

    def _apply_update_pipeline(self, existing_document: dict, *args) -> None:
        with self._updating(existing_document, None):
            super()._apply_update_pipeline(existing_document, *args)

    @contextlib.contextmanager
    def _updating(self, document: dict, fields: frozenset[str] | None) -> Iterator[None]:
        store = self._store
        key = document_key(document["_id"])
        stored = store.documents_by_key.get(key) is document  # not an upsert's draft
        if stored:
            store.engine.changing(store, key, fields)
        try:
            yield
        finally:  # an update that fails part-way may have changed the document already
            if stored:
                store.updated_in_place(key)


# Update operators whose every key is a path to a field they change (not $rename, whose values are paths too).
_FIELD_OPERATORS = frozenset({"$set", "$unset", "$inc", "$mul", "$min", "$max", "$currentDate", "$push", "$pull",
                              "$addToSet", "$pop", "$pullAll", "$bit"})


def fields_updated(update: Any) -> frozenset[str] | None:
    """The top-level fields an update document can change in place; None when that can't be told
    from its keys alone (a replacement, $rename, $setOnInsert, or any operator not listed)."""
    if type(update) is not dict or not update:
        return None
    fields: set[str] = set()
    for name, changes in update.items():
        if name not in _FIELD_OPERATORS or not isinstance(changes, dict):
            return None
        fields.update(path.partition(".")[0] for path in changes)
    return frozenset(fields)


# Values mongomock's patch_datetime_awareness_in_document returns as they are: all but dates.
_UNPATCHED = _SHARED_TYPES - {datetime.datetime}


def _projected(document: dict, fields: dict) -> dict | None:
    """`document` as mongomock projects it for the projections the shop sends: `{"_id": 0}`, or
    fields shown (`{"isbn": 1, "available": 1}`, with `_id` shown or not); None for any other.

    The shown fields come in the document's order and `_id` last, as mongomock gives them; its
    own way parses the projection again for every document (a cart add reads three this way).
    """
    with_id = fields.get("_id", 1)
    if type(with_id) not in (int, bool) or with_id not in (0, 1):
        return None
    shown = fields.keys() - {"_id"}
    if not shown:
        if with_id:
            return {"_id": document["_id"]} if "_id" in document else {}
        return {key: copied(value) for key, value in document.items() if key != "_id"}
    for field in shown:
        value = fields[field]
        if type(value) not in (int, bool) or value != 1 or "." in field or field.startswith("$"):
            return None
    projected = {key: copied(value) for key, value in document.items() if key in shown}
    if with_id and "_id" in document:
        projected["_id"] = document["_id"]
    return projected


def _patched(value: Any) -> Any:
    """A filter or update with its datetimes as mongomock stores them: what mongomock's
    patch_datetime_awareness_in_document gives, without a call for each plain value (a cart
    add's filters and updates went through 60 calls of it, 7 % of the add)."""
    kind = type(value)
    if kind in _UNPATCHED:
        return value
    if kind is dict:
        if all(type(item) in _UNPATCHED for item in value.values()):  # most lookups: nothing to patch
            return value
        return {key: item if type(item) in _UNPATCHED else _patched(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _UNPATCHED else _patched(item) for item in value]
    return patch_datetime_awareness_in_document(value)


def _matching(filter: dict, documents: list[dict]) -> Iterator[dict]:
    if not documents:
        filter_applies(filter, {})  # a bad filter still raises, as scanning would make it
    test = compiled(filter)
    return (document for document in documents if test(document))


def compiled(filter: dict) -> Callable[[dict], bool]:
    """`filter` as a test of a document that answers as mongomock's matching does, faster.

    A filter's top-level conditions all have to hold, each tested on its own. One that asks for
    plain values (str, int or ObjectId: `f: v`, `{"$eq": v}`, `{"$in": [...]}`) holds when the
    document's field is itself such a value (not an array) and one of them: a set lookup, where
    mongomock compares with each value of an `$in` in turn. The kinds housekeeping's scans send
    are decided by `_condition` when the field holds a plain value; mongomock decides every other
    answer and every other condition.
    """
    plain, checks, rest = [], [], {}
    for field, condition in filter.items():
        values = equal_values(condition) if field[:1] != "$" and "." not in field else None
        check = _condition(field, condition) if values is None else None
        if values is not None:
            plain.append((field, frozenset(values)))
        elif check is not None:
            checks.append(check)
        else:
            rest[field] = condition

    def test(document: dict) -> bool:
        for field, values in plain:  # every request's lookups: no call for each condition
            value = document.get(field)
            if not (type(value) in LOOKUP_TYPES and value in values) and \
                    not filter_applies({field: filter[field]}, document):
                return False
        return all(check(document) for check in checks) and (not rest or filter_applies(rest, document))

    return test


_MISSING = object()
_COMPARISONS = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}


def _condition(field: str, condition: Any) -> Callable[[dict], bool] | None:
    """A test of one top-level condition, or None for mongomock to decide it (see _answer)."""
    if field == "$or" and isinstance(condition, list) and condition and all(type(part) is dict for part in condition):
        parts = [compiled(part) for part in condition]
        return lambda document: any(part(document) for part in parts)
    answer = None if field[:1] == "$" else _answer(field, condition)
    if answer is None:
        return None
    head = field.partition(".")[0]

    def check(document: dict) -> bool:
        decided = answer(document.get(head, _MISSING))
        return filter_applies({field: condition}, document) if decided is None else decided

    return check


def _answer(field: str, condition: Any) -> Callable[[Any], bool | None] | None:
    """How the condition on `field` is answered from the value of its first part (_MISSING when
    the document has none), None where mongomock must answer. Decided here:

    - `f: None`, when the field is missing, None or a plain value;
    - comparisons with a date or an int (`{"$lt": d}`, `{"$gte": 1}`, several at once too), when
      the field holds a value of the same kind;
    - `{"$ne": v}` for a string, bool or ObjectId `v`, when the field is missing, None or of v's type;
    - `{"$exists": b}`, of a field or (when its first part is missing) of a dotted path.
    """
    if type(condition) is dict and condition.keys() == {"$exists"} and type(condition["$exists"]) is bool:
        wanted = condition["$exists"]
        if "." in field:  # a path under a missing field is missing too
            return lambda value: not wanted if value is _MISSING else None
        return lambda value: (value is not _MISSING) == wanted
    if "." in field:
        return None
    if condition is None:
        return lambda value: (True if value is _MISSING or value is None
                              else False if type(value) in LOOKUP_TYPES else None)
    if type(condition) is not dict or not condition:
        return None
    if condition.keys() == {"$ne"} and type(condition["$ne"]) in (str, bool, ObjectId):
        unwanted = condition["$ne"]  # not an int: Python holds 1 == 1.0 == True, MongoDB does not
        return lambda value: (True if value is _MISSING or value is None
                              else value != unwanted if type(value) is type(unwanted) else None)
    if not condition.keys() <= _COMPARISONS.keys():
        return None
    kinds = {_kind(bound) for bound in condition.values()}
    if len(kinds) == 1 and None not in kinds:
        kind = kinds.pop()
        bounds = [(_COMPARISONS[operator_], bound) for operator_, bound in condition.items()]
        return lambda value: all(compare(value, bound) for compare, bound in bounds) if _kind(value) is kind else None
    return None


def _kind(value: Any) -> type | None:
    """What a comparison decides here compares: ints (not bools, not floats) and naive dates; None for any other."""
    if type(value) is int:
        return int
    if type(value) is datetime.datetime and value.tzinfo is None:
        return datetime.datetime
    return None


class Engine:
    """mongomock storage for one database, with hash indexes and a record of what each write changed."""

    def __init__(self, database_name: str):
        self.server_store = ServerStore()
        self.database_store = self.server_store._databases[database_name] = EngineDatabaseStore(self)
        self.changes: ChangeSet | None = None
        self._writes = itertools.count(1)

    def count_write(self) -> int:
        return next(self._writes)

    @contextlib.contextmanager
    def capture(self) -> Iterator[ChangeSet]:
        """Collect what the write made inside the block changes (writes are synchronous in mongomock)."""
        assert self.changes is None, "writes do not nest"
        self.changes = ChangeSet()
        try:
            yield self.changes
        finally:
            self.changes = None

    def changing(self, store: EngineCollectionStore, key: Any, fields: frozenset[str] | None = None) -> None:
        """A document is about to change: in place, in only `fields` when given; else in any way."""
        if self.changes is not None:
            self.changes.remember(store, key, fields)

    def load(self, state: State) -> None:
        for name, data in state.items():
            self.database_store[name].load(data)

    def collection(self, database: Database, name: str) -> EngineCollection:
        """A mongomock collection of `database` (a mongomock Database on this engine's storage)."""
        return EngineCollection(database, name, _db_store=self.database_store)
