"""The embedded engine's hash lookups: right after every kind of write, and no scan of every book."""

import pytest
from pymongo import ReplaceOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from burts_books import embedded_engine
from burts_books.config import Settings
from burts_books.db import open_database


@pytest.fixture
def books(io_loop, tmp_path):
    """An embedded books collection with the shop's unique ISBN index and a few books."""
    db = io_loop.run_sync(lambda: open_database(Settings(data_dir=tmp_path), persist=False))

    async def fill():
        await db.books.create_index("isbn", unique=True)
        await db.books.insert_many([{"isbn": isbn, "title": title} for isbn, title in
                                    (("a", "Alpha"), ("b", "Beta"), ("c", "Gamma"))])

    io_loop.run_sync(fill)
    yield db.books
    io_loop.run_sync(db.close)


async def titles(books, criteria):
    return sorted(book["title"] for book in await books.find(criteria).to_list(None))


@pytest.mark.gen_test
async def test_lookups_by_isbn_and_id_do_not_scan_every_book(books, monkeypatch):
    scans = []
    scan = embedded_engine._scan_documents
    monkeypatch.setattr(embedded_engine, "_scan_documents", lambda *args: scans.append(args) or scan(*args))
    alpha = await books.find_one({"isbn": "a"})
    assert alpha["title"] == "Alpha"
    assert (await books.find_one({"_id": alpha["_id"]}))["title"] == "Alpha"
    assert await titles(books, {"isbn": {"$in": ["c", "a", "zz"]}}) == ["Alpha", "Gamma"]
    assert await titles(books, {"isbn": "b", "title": "Not Beta"}) == []
    assert scans == []
    assert await titles(books, {"title": "Beta"}) == ["Beta"]  # no index: a scan, as before
    assert len(scans) == 1


@pytest.mark.gen_test
async def test_lookups_see_every_insert_update_and_delete(books):
    await books.update_one({"isbn": "a"}, {"$set": {"isbn": "z"}})
    assert await books.find_one({"isbn": "a"}) is None
    assert (await books.find_one({"isbn": "z"}))["title"] == "Alpha"
    await books.delete_one({"isbn": "b"})
    assert await books.count_documents({"isbn": "b"}) == 0
    await books.insert_one({"isbn": "a", "title": "Another Alpha"})
    await books.insert_one({"isbn": "b", "title": "Beta Again"})
    await books.replace_one({"isbn": "c"}, {"isbn": "c", "title": "Gamma Replaced"})
    assert await titles(books, {"isbn": {"$in": ["a", "b", "c", "z"]}}) == [
        "Alpha", "Another Alpha", "Beta Again", "Gamma Replaced"]


@pytest.mark.gen_test
async def test_isbns_stay_unique(books):
    with pytest.raises(DuplicateKeyError):
        await books.insert_one({"isbn": "a", "title": "Alpha Twin"})
    with pytest.raises(DuplicateKeyError):
        await books.update_one({"isbn": "b"}, {"$set": {"isbn": "a", "title": "Beta as Alpha"}})
    assert await titles(books, {}) == ["Alpha", "Beta", "Gamma"]
    assert await titles(books, {"isbn": "b"}) == ["Beta"]


@pytest.mark.gen_test
async def test_bulk_upserts_and_replaces_from_current_pymongo(books):
    result = await books.bulk_write([
        UpdateOne({"isbn": "a"}, {"$set": {"title": "Alpha 2"}}, upsert=True),
        UpdateOne({"isbn": "d"}, {"$setOnInsert": {"title": "Delta"}}, upsert=True),
        ReplaceOne({"isbn": "b"}, {"isbn": "b", "title": "Beta 2"}),
    ], ordered=False)
    assert (result.matched_count, result.modified_count, result.upserted_count) == (2, 2, 1)
    assert await titles(books, {"isbn": {"$in": ["a", "b", "d"]}}) == ["Alpha 2", "Beta 2", "Delta"]


@pytest.mark.gen_test
async def test_an_index_made_again_knows_what_was_written_while_it_was_gone(books):
    await books.find_one({"isbn": "a"})  # the map exists
    await books.drop_index("isbn_1")
    await books.insert_one({"isbn": "e", "title": "Epsilon"})
    await books.create_index("isbn", unique=True)
    assert (await books.find_one({"isbn": "e"}))["title"] == "Epsilon"
    with pytest.raises(DuplicateKeyError):
        await books.insert_one({"isbn": "e", "title": "Epsilon Twin"})


@pytest.mark.gen_test
async def test_a_value_no_map_can_hold_falls_back_to_scanning(books):
    await books.insert_one({"isbn": ["q", "r"], "title": "Two ISBNs"})
    assert await titles(books, {"isbn": "q"}) == ["Two ISBNs"]
    with pytest.raises(DuplicateKeyError):
        await books.insert_one({"isbn": "r", "title": "Taken"})
    assert await titles(books, {"isbn": "a"}) == ["Alpha"]
