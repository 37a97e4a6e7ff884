"""The embedded store's indexes: point lookups answer exactly as a scan does, without scanning."""

import collections
import datetime
import random

import mongomock.collection
import mongomock.filtering
import mongomock.helpers
import pytest
from bson import ObjectId
from mongomock_motor import AsyncMongoMockClient

from burts_books.infra.db import open_database
from burts_books.infra.embedded import engine
from burts_books.infra.embedded.indexes import HashIndexes

IDS = [ObjectId() for _ in range(3)]
SCALARS = ["a", "b", "c", 0, 1, 2, 1.0, 2.5, True, False, None, *IDS, str(IDS[0])]


def a_value(rng: random.Random):
    roll = rng.random()
    if roll < 0.6:
        return rng.choice(SCALARS)
    if roll < 0.85:
        return [a_value(rng) for _ in range(rng.randint(0, 3))]
    return {"x": rng.choice(SCALARS)}


def a_document(rng: random.Random, number: int) -> dict:
    document = {"_id": rng.choice([number, f"doc-{number}", ObjectId()])}
    for field in ("status", "tags", "plain", "code"):
        if rng.random() < 0.85:  # sometimes missing
            document[field] = a_value(rng)
    return document


def a_condition(rng: random.Random, ids: list):
    value = rng.choice([*SCALARS, *ids[:5]])
    roll = rng.random()
    if roll < 0.5:
        return value
    if roll < 0.65:
        return {"$eq": value}
    if roll < 0.85:
        return {"$in": rng.sample([*SCALARS, *ids[:5]], rng.randint(1, 3))}
    return rng.choice([{"$gt": 1}, {"$gte": rng.choice([0, 1, 2])}, {"$lt": 2, "$gte": 0}, {"$lte": 1.0},
                       {"$exists": rng.random() < 0.5}, {"$ne": value}, {"$ne": rng.choice(["a", True, False])},
                       [value]])


def a_filter(rng: random.Random, ids: list) -> dict:
    fields = rng.sample(["_id", "status", "tags", "plain", "code"], rng.randint(1, 3))
    filter = {field: a_condition(rng, ids) for field in fields}
    if rng.random() < 0.2:
        filter = {"$and": [filter, {rng.choice(["status", "tags"]): a_condition(rng, ids)}]}
    return filter


RESULT_FIELDS = ("inserted_id", "matched_count", "modified_count", "upserted_id", "deleted_count")


async def outcome(call):
    """What a call answered or raised, comparably."""
    try:
        result = await call()
    except Exception as error:
        return ("raised", type(error).__name__)
    if hasattr(result, "acknowledged"):  # a pymongo result object
        return {name: getattr(result, name) for name in RESULT_FIELDS if hasattr(result, name)}
    return result


async def prepared(collection) -> None:
    await collection.create_index("status")
    await collection.create_index("tags")
    await collection.create_index([("code", 1), ("plain", 1)], unique=True, sparse=True)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.gen_test(timeout=60)
async def test_indexed_queries_and_writes_answer_exactly_as_a_scan(embedded, seed):
    rng = random.Random(seed)
    db = await open_database(embedded, persist=False)
    indexed = db.things
    scanned = AsyncMongoMockClient()["reference"]["things"]  # plain mongomock: every query a scan
    for collection in (indexed, scanned):
        await prepared(collection)
    ids = []
    try:
        for number in range(150):
            document = a_document(rng, number)
            ids.append(document["_id"])
            assert await outcome(lambda c=indexed: c.insert_one(dict(document))) == \
                await outcome(lambda c=scanned: c.insert_one(dict(document)))
        for step in range(400):
            filter = a_filter(rng, ids)
            update = rng.choice([
                {"$set": {rng.choice(["status", "tags", "code"]): a_value(rng)}},
                {"$inc": {rng.choice(["n", "counts.a"]): rng.choice([1, -1, 2.5, 0])},
                 "$set": {"touched": rng.choice(SCALARS)}},
                {"$unset": {rng.choice(["status", "tags", "counts.a", "missing.field"]): ""}},
                {"$set": {"_id": rng.choice(ids)}},  # refused: an _id never changes
            ])
            replacement = {"status": rng.choice(SCALARS), "code": step}
            calls = [
                lambda c: c.find(filter).to_list(None),
                lambda c: c.find_one(filter),
                lambda c: c.find_one(filter, {"status": 1, "_id": 0}),
                lambda c: c.find_one(filter, projection={"tags": 0}),
                lambda c: c.find_one(filter, sort=[("code", -1)]),
                lambda c: c.count_documents(filter),
                lambda c: c.update_one(filter, update),
                lambda c: c.update_many(filter, {"$inc": {"n": 1}}),
                lambda c: c.find_one_and_update(filter, update),
                lambda c: c.replace_one(filter, replacement),
                lambda c: c.update_one({**filter, "_id": f"upserted-{step}"}, update, upsert=True),
                lambda c: c.delete_one(filter),
            ]
            call = rng.choices(calls, weights=[5, 3, 1, 1, 1, 2, 3, 1, 2, 1, 1, 1])[0]
            assert await outcome(lambda: call(indexed)) == await outcome(lambda: call(scanned)), filter
            assert await indexed.find().to_list(None) == await scanned.find().to_list(None)
    finally:
        await db.close()


@pytest.mark.gen_test
async def test_a_value_an_array_holds_twice_is_found_then_forgotten(embedded):
    db = await open_database(embedded, persist=False)
    try:
        await db.things.create_index("tags")
        await db.things.insert_one({"_id": 1, "tags": ["twice", "twice", 1, 1.0]})
        assert [doc["_id"] for doc in await db.things.find({"tags": "twice"}).to_list(None)] == [1]
        await db.things.update_one({"_id": 1}, {"$set": {"tags": ["once"]}})
        assert await db.things.find_one({"tags": "twice"}) is None
        assert (await db.things.find_one({"tags": "once"}))["_id"] == 1
    finally:
        await db.close()


class ScanCounter:
    """Counts the documents mongomock tests against a filter, by scan or from an index's candidates."""

    def __init__(self, monkeypatch):
        self.count = 0
        scanned, compiled = mongomock.collection.filter_applies, engine.compiled

        def scan_test(filter, document):
            self.count += 1
            return scanned(filter, document)

        def candidate_test(filter):
            test = compiled(filter)

            def counted(document):
                self.count += 1
                return test(document)

            return counted

        monkeypatch.setattr(mongomock.collection, "filter_applies", scan_test)
        monkeypatch.setattr(engine, "compiled", candidate_test)

    async def by(self, call) -> int:
        self.count = 0
        await call
        return self.count


@pytest.mark.gen_test(timeout=60)
async def test_point_lookups_and_updates_test_only_the_documents_they_name(services, monkeypatch):
    db = services.db
    isbns = [f"97800000{n:05d}" for n in range(2000)]
    await db.books.insert_many([{"isbn": isbn, "title": isbn, "available": 1} for isbn in isbns])
    await db.carts.insert_many([{"_id": f"cart-{n}", "status": "open", "holds": {}} for n in range(2000)])
    tested = ScanCounter(monkeypatch)

    assert await tested.by(db.books.find_one({"isbn": isbns[1500]})) == 1
    assert await tested.by(db.books.find({"isbn": {"$in": isbns[:3]}}).to_list(None)) == 3
    assert await tested.by(db.books.find_one_and_update(
        {"isbn": isbns[7], "available": {"$gt": 0}}, {"$inc": {"available": -1}})) <= 3
    assert await tested.by(db.carts.find_one({"_id": "cart-1999", "status": "open"})) == 1
    assert await tested.by(db.carts.update_one(
        {"_id": "cart-5", "status": "open", "$or": [{"holds.x": {"$exists": False}}, {"holds.x": {"$lt": 10}}]},
        {"$inc": {"holds.x": 1}})) <= 3
    assert await tested.by(db.carts.count_documents({"_id": "cart-5", "status": "open"})) == 1
    # What no index serves is still a scan: the counting above does see scans.
    assert await tested.by(db.books.find_one({"title": {"$regex": "^97800001999"}})) >= 2000


def test_plain_conditions_match_exactly_as_mongomock_matches():
    oid = ObjectId()
    values = [1, 1.0, True, 0, "1", "a", ["a", "b"], [1], oid, str(oid), [str(oid)], None, {"x": 1}]
    documents = [{"_id": n, "f": value} for n, value in enumerate(values)] + [{"_id": "none"}]
    filters = [{"f": value} for value in values if not isinstance(value, dict)] + [
        {"_id": 1, "f": 1.0}, {"_id": 0, "f": 1}, {"f": 1, "g": None}]
    filters += [{"f": {"$in": [value, "z"]}} for value in values if not isinstance(value, (dict, list))]
    filters += [{"f": {"$eq": 1}}, {"_id": {"$in": [1, 2]}, "f": {"$in": [1.0, True]}}, {"f.x": 1}, {"$or": [{"f": 1}]}]
    for filter in filters:
        test = engine.compiled(filter)
        for document in documents:
            assert test(document) == mongomock.filtering.filter_applies(filter, document), (filter, document)


def test_the_conditions_of_housekeeping_scans_match_exactly_as_mongomock_matches():
    rng = random.Random(21)
    moments = [datetime.datetime(2026, 12, 2, 5, minute) for minute in (0, 10, 20)]
    values = [*SCALARS, *moments, 7.5, [moments[1]], [None], [], {"b": 1}, {"c": None}]

    def a_part():
        field = rng.choice(["f", "g", "a.b", "f.b"])
        condition = rng.choice([
            rng.choice(values), None, {"$exists": rng.random() < 0.5}, {"$in": rng.sample(SCALARS, 2)},
            {rng.choice(["$lt", "$lte", "$gt", "$gte"]): rng.choice(moments)},
            {"$gte": moments[0], "$lt": rng.choice(moments)}, {"$lt": rng.choice([3, "x", None])},
        ])
        return {field: condition}

    def a_filter():
        filter = {}
        for _ in range(rng.randint(1, 3)):
            filter.update({"$or": [a_part() for _ in range(rng.randint(1, 3))]} if rng.random() < 0.3 else a_part())
        return filter

    for _ in range(3000):
        document = {"_id": 1}
        for field in ("f", "g", "a"):
            if rng.random() < 0.8:
                document[field] = rng.choice(values)
        for filter in (a_part(), a_filter()):  # a condition alone, then with others that may decide first
            assert outcome_of(lambda: engine.compiled(filter)(document)) == \
                outcome_of(lambda: mongomock.filtering.filter_applies(filter, document)), (filter, document)


def test_filters_and_updates_hold_their_datetimes_as_mongomock_stores_them():
    aware = datetime.datetime(2026, 12, 2, 5, 30, 1, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    naive = datetime.datetime(2026, 12, 2, 5, 30, 1, 987654)
    values = [
        {"isbn": "9780000000001", "n": 1}, {"touched_at": {"$lt": naive}}, {"$set": {"touched_at": aware, "n": 2}},
        {"$or": [{"a": {"$exists": False}}, {"a": {"$lte": 3.5}}], "at": [naive, (aware, None)]},
        collections.OrderedDict(at=aware), {"oid": ObjectId(), "raw": b"x", "flag": True, "nothing": None},
        [aware, {"deep": {"deeper": [naive]}}], (1, "a"), naive, "text",
    ]
    for value in values:
        patched = engine._patched(value)
        expected = mongomock.helpers.patch_datetime_awareness_in_document(value)
        assert patched == expected and type(patched) is type(expected), value


def test_projections_give_what_mongomock_gives():
    rng = random.Random(9)
    collection = AsyncMongoMockClient()["reference"]["things"].collection  # the plain mongomock one
    fields = ["_id", "a", "b", "c", "d.e", "$x"]
    for number in range(300):
        document = {field: a_value(rng) for field in rng.sample(["a", "b", "c", "d"], rng.randint(0, 4))}
        if rng.random() < 0.9:
            document["_id"] = number
        plain = rng.random() < 0.5
        if plain:  # the shop's kind: fields shown, `_id` shown, hidden or not said
            projection = {field: rng.choice([1, True]) for field in rng.sample(fields[1:4], rng.randint(0, 3))}
            projection.update(rng.choice([{}, {"_id": 0}, {"_id": 1}, {"_id": False}]))
            projection = projection or {"_id": 0}
        else:
            projection = {field: rng.choice([0, 1, True, False, 2, 1.0]) for field in rng.sample(
                fields, rng.randint(1, 4))}
        expected = outcome_of(lambda: mongomock.collection.Collection._copy_only_fields(
            collection, document, dict(projection), dict))
        found = engine._projected(document, projection)
        assert found is not None or not plain, projection
        if found is not None:
            assert (found, list(found)) == (expected, list(expected)), (document, projection)


def outcome_of(call):
    try:
        return call()
    except Exception as error:
        return ("raised", type(error).__name__)


@pytest.mark.gen_test
async def test_what_a_read_returns_is_the_readers_own_copy(services):
    books = services.db.books
    await books.insert_one({"isbn": "9780000000001", "tags": ["a", {"deep": [1]}], "meta": {"n": 1}})
    for read in (books.find_one({"isbn": "9780000000001"}), books.find({"isbn": "9780000000001"}).to_list(None)):
        found = await read
        book = found[0] if isinstance(found, list) else found
        book["tags"][1]["deep"].append(2)
        book["tags"].append("b")
        book["meta"]["n"] = 2
    again = await books.find_one({"isbn": "9780000000001"}, {"_id": 0})
    assert again == {"isbn": "9780000000001", "tags": ["a", {"deep": [1]}], "meta": {"n": 1}}


def test_an_index_built_on_first_use_holds_what_changed_before_and_after():
    indexes, documents = HashIndexes(), {}
    indexes.set_fields({"isbn"})
    for n in range(5):
        documents[n] = {"_id": n, "isbn": f"isbn-{n}"}
        indexes.add(n, documents[n])
    del documents[2]
    indexes.remove(2)
    assert indexes.narrowest({"isbn": "isbn-3"}, documents) == {3}  # built now
    assert indexes.narrowest({"isbn": "isbn-2"}, documents) == set()
    documents[9] = {"_id": 9, "isbn": "isbn-3"}
    indexes.add(9, documents[9])
    assert indexes.narrowest({"isbn": {"$in": ["isbn-3", "isbn-4"]}}, documents) == {3, 4, 9}
    assert indexes.narrowest({"title": "isbn-3"}, documents) is None  # no index: a scan


def test_a_lookup_by_id_does_not_gather_every_document_sharing_a_status(monkeypatch):
    indexes = HashIndexes()
    documents = {n: {"_id": n, "status": "open"} for n in range(10_000)}
    indexes.set_fields({"status"})
    for key, document in documents.items():
        indexes.add(key, document)
    gathered = []
    keys_of = indexes._keys

    def keys(field, values, docs):
        gathered.append(field)
        return keys_of(field, values, docs)

    monkeypatch.setattr(indexes, "_keys", keys)
    for filter in ({"_id": 7, "status": {"$in": ["open", "expired"]}}, {"status": "open", "_id": 7},
                   {"status": "open", "_id": {"$in": [7]}}):
        assert indexes.narrowest(filter, documents) == {7}
    assert "status" not in gathered


@pytest.mark.gen_test
async def test_start_up_indexes_all_but_arrays_and_dates_and_later_writes_stay_filed(embedded):
    db = await open_database(embedded, persist=False)
    things = db.things
    await things.create_index("code")
    await things.create_index("tags")
    await things.create_index("sparse")
    await things.create_index("at")
    await things.insert_many([{"_id": n, "code": f"c{n % 7}", "tags": ["x", f"t{n}"], "sparse": None,
                               "at": datetime.datetime(2026, 12, 2, 5, n // 60, n % 60)} for n in range(300)])
    await things.insert_one({"_id": "late", "sparse": "s"})  # the field's first value is in the last document
    await things.create_index("nobody")
    await things.insert_one({"_id": "none", "nobody": None})  # no value yet (carts, before anyone signs in)
    indexes = db.store.engine.database_store["things"].hash_indexes
    try:
        db.build_indexes()
        assert indexes.unbuilt() == ["at", "tags"]  # dates and arrays: left for a query that wants them
        await things.update_one({"_id": 5}, {"$set": {"code": "c9"}})
        await things.delete_one({"_id": 12})
        await things.insert_one({"_id": 400, "code": "c9"})
        documents = db.store.engine.database_store["things"].documents_by_key
        for code in (f"c{n}" for n in range(10)):
            assert indexes.narrowest({"code": code}, documents) == \
                {key for key, document in documents.items() if document.get("code") == code}, code
        assert indexes.narrowest({"sparse": "s"}, documents) == {"late"}
        await things.update_one({"_id": 7}, {"$set": {"nobody": "someone"}})
        assert indexes.narrowest({"nobody": "someone"}, documents) == {7}
    finally:
        await db.close()
