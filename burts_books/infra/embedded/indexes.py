"""Equality indexes for the embedded engine, so that point lookups don't scan.

mongomock has no indexes: every query tests every document of the collection.
Each collection here keeps hash indexes on the first field of every index
created on it (the fields the migrations index), and `_id` is looked up in
mongomock's own document dict. A query is narrowed to the documents that an
equality (`{f: v}`, `{f: {"$eq": v}}`) or `{f: {"$in": [...]}}` on one of
those fields can match, at top level or inside `$and`; mongomock's own filter
check then runs on those candidates only. So an index never decides what
matches, it only has to never leave out a document that could: results are
exactly those of a scan.

Only values of type str, int and ObjectId are looked up. What can equal such
a value in mongomock's matching (plain Python `==`, applied to the field and,
for an array, to each element; for an ObjectId also its string form among an
array's elements) hashes like it, so the buckets below hold every candidate.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from bson import ObjectId

LOOKUP_TYPES = (str, int, ObjectId)
_ANY = object()  # stands for "no narrowing possible"


def filed_values(value: Any) -> tuple:
    """The values a document's field is filed under: itself, or an array's elements, when hashable; each once."""
    if type(value) in LOOKUP_TYPES:  # most are: a start-up files every document under every index
        return (value,)
    items = value if isinstance(value, (list, tuple)) else (value,)
    filed = []
    for item in items:
        try:
            hash(item)
        except TypeError:
            continue  # a list or subdocument never equals a looked-up value
        filed.append(item)
    return tuple(dict.fromkeys(filed))


def equal_values(condition: Any) -> list | None:
    """The values a field condition asks the field to equal (`v`, `{"$eq": v}`, `{"$in": [...]}`),
    when all are of LOOKUP_TYPES; None for any other condition."""
    if isinstance(condition, dict):
        if condition.keys() == {"$eq"}:
            return equal_values(condition["$eq"])
        if condition.keys() == {"$in"} and isinstance(condition["$in"], (list, tuple)):
            values = list(condition["$in"])
            return values if all(isinstance(v, LOOKUP_TYPES) for v in values) else None
        return None
    return [condition] if isinstance(condition, LOOKUP_TYPES) else None


def lookup_values(condition: Any) -> list | None:
    """The values a field condition can only match through, or None when it is not an equality."""
    values = equal_values(condition)
    if values is None:
        return None
    # {f: ObjectId} also matches the id's string form inside an array (a mongomock quirk).
    return values + [str(value) for value in values if isinstance(value, ObjectId)]


class HashIndexes:
    """field -> value -> keys of the documents holding that value.

    A running shop builds its indexes as it starts (`build_all`), but for those on arrays and
    dates: the embedded store never queries a book's search keywords (the catalog view answers
    searches from memory), and filing every word of 20,000 books would double the start-up. Any
    other is built the first time a query can use it.
    """

    def __init__(self) -> None:
        self._wanted: set[str] = set()
        self._buckets: dict[str, dict[Any, set]] = {}
        self._filed: dict[str, dict[Any, tuple]] = {}  # field -> key -> values it is filed under

    def set_fields(self, fields: set[str]) -> None:
        self._wanted = set(fields)
        for field in set(self._buckets) - self._wanted:
            del self._buckets[field], self._filed[field]

    def unbuilt(self) -> list[str]:
        return sorted(self._wanted - set(self._buckets))

    def build_all(self, documents: Mapping[Any, dict]) -> int:
        """Build every index but those on a field whose first value (None aside) is an array (a
        book's keywords) or a date (indexed for ranges and order, which no lookup here uses);
        how many were built. Built on first use, the carts' by account took the first sign-in
        after a start 50 ms."""
        built = 0
        for field in self.unbuilt():
            first = next((document[field] for document in documents.values()
                          if document.get(field) is not None), None)
            if not isinstance(first, (list, datetime.datetime)):
                self._built(field, documents)
                built += 1
        return built

    def _built(self, field: str, documents: Mapping[Any, dict]) -> dict[Any, set]:
        buckets = self._buckets.get(field)
        if buckets is None:
            buckets = self._buckets[field] = {}
            self._filed[field] = {}
            for key, document in documents.items():
                self._file(field, key, document)
        return buckets

    def add(self, key: Any, document: dict) -> None:
        for field in self._buckets:
            self._file(field, key, document)

    def _file(self, field: str, key: Any, document: dict) -> None:
        if field not in document:
            return
        values = filed_values(document[field])
        self._filed[field][key] = values
        buckets = self._buckets[field]
        for value in values:
            buckets.setdefault(value, set()).add(key)

    def remove(self, key: Any) -> None:
        for field, buckets in self._buckets.items():
            for value in self._filed[field].pop(key, ()):
                bucket = buckets[value]
                bucket.discard(key)
                if not bucket:
                    del buckets[value]

    def narrowest(self, filter: Mapping, documents: Mapping) -> set | None:
        """Keys of the fewest documents that can match `filter`, or None when no index applies."""
        wanted = filter.get("_id")
        if type(wanted) in LOOKUP_TYPES:  # most lookups, every request's account and cart: a key, no index
            return {wanted} if wanted in documents else set()
        found = self._narrowest(filter, documents)
        return found if isinstance(found, set) else None

    def _narrowest(self, filter: Mapping, documents: Mapping) -> set | object:
        best: set | object = _ANY
        # `_id` first (`$in`, or inside `$and`): it names few documents, and then no other field's
        # index need be consulted.
        for field in ("_id", *(name for name in filter if name != "_id")) if "_id" in filter else filter:
            if isinstance(best, set) and len(best) <= 1:
                break
            condition = filter[field]
            if field == "$and" and isinstance(condition, list):
                options: Iterable = (self._narrowest(part, documents) for part in condition if isinstance(part, dict))
            elif field == "_id" or field in self._wanted:
                values = lookup_values(condition)
                # A value shared by thousands (a cart's status) is not worth a set of thousands.
                if values is None or (isinstance(best, set) and self._count(field, values, documents) >= len(best)):
                    continue
                options = [self._keys(field, values, documents)]
            else:
                continue
            for keys in options:
                if isinstance(keys, set) and (not isinstance(best, set) or len(keys) < len(best)):
                    best = keys
        return best

    def _count(self, field: str, values: list, documents: Mapping) -> int:
        """How many documents at most hold these values, without gathering them."""
        if field == "_id":
            return len(values)
        buckets = self._built(field, documents)
        return sum(len(buckets.get(value, ())) for value in values)

    def _keys(self, field: str, values: list, documents: Mapping) -> set:
        if field == "_id":  # documents are keyed by _id
            return {value for value in values if value in documents}
        buckets = self._built(field, documents)
        if len(values) == 1:
            return buckets.get(values[0], set())
        return set().union(*(buckets.get(value, ()) for value in values))
