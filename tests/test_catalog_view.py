"""The catalog view: shopper reads from memory that answers exactly as the database would,
and never shows a count older than one already announced, in this process or another."""

import asyncio
import contextlib
import random
import re

import pymongo
import pytest

from burts_books import catalog_view
from burts_books.catalog import NO_COVER, Catalog, keywords_for
from burts_books.catalog_view import CatalogView
from burts_books.infra import slices
from burts_books.infra.bus import RedisBus
from burts_books.infra.clock import utcnow
from burts_books.inventory import Inventory
from burts_books.search_text import html_words, words
from tests.constants import COOKIE_SECRET, PCI, RESTFUL, STAFF_EMAIL, UNKNOWN_ISBN
from tests.shop_client import text_of
from tests.waiting import until

WORDS = ["python", "pythonic", "tornado", "torn", "web", "c", "cat", "catalog", "été", "ça", "data", "database"]


def random_books(count: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    books = []
    for n in range(count):
        book = {
            "isbn": f"97800000{n:05d}",
            "title": " ".join(rng.choices(WORDS, k=rng.randint(1, 4))).title(),
            "subtitle": "",
            "author": rng.choice(["Ada Writer", "Burt Reader", "Zoë Page"]),
            "price_cents": rng.choice([999, 1999, 2500]), "stock": 3, "available": 3, "inventory_version": 1,
            # Some share a date, so the ISBN breaks ties as MongoDB's sort does.
            "date_added": utcnow().replace(microsecond=0, second=rng.randint(0, 20)),
        }
        book["keywords"] = keywords_for(book)
        books.append(book)
    return books


async def loaded_view(services, books):
    await services.db.books.delete_many({})
    await services.db.books.insert_many([dict(book) for book in books])
    view = CatalogView(services.db, services.bus)
    await view.load()
    return view


@pytest.mark.gen_test
async def test_search_and_newest_answer_exactly_as_the_database_query(services):
    view = await loaded_view(services, random_books(300))
    rng = random.Random(5)
    queries = [[], ["c"], ["py"], ["python"], ["tor", "web"], ["ca", "data"], ["zz"], ["ete"], ["burt", "cat"]]
    queries += [[rng.choice(WORDS)[: rng.randint(1, 4)] for _ in range(rng.randint(1, 3))] for _ in range(30)]
    orders = {
        "title": [("title", pymongo.ASCENDING), ("isbn", pymongo.ASCENDING)],
        "newest": [("date_added", pymongo.DESCENDING), ("isbn", pymongo.ASCENDING)],
        "price": [("price_cents", pymongo.ASCENDING), ("title", pymongo.ASCENDING), ("isbn", pymongo.ASCENDING)],
    }
    for terms in queries:
        criteria = {"$and": [{"keywords": {"$regex": "^" + re.escape(t)}} for t in terms]} if terms else {}
        for sort, order in orders.items():
            for skip, limit in ((0, 12), (12, 12), (290, 50)):
                expected = await services.db.books.find(criteria, {"_id": 0}).sort(order).skip(skip).limit(limit
                                                                                                   ).to_list(None)
                books, total = view.search(terms, sort, skip, limit)
                assert books == expected, (terms, sort)
                assert total == await services.db.books.count_documents(criteria)
    newest = await services.db.books.find({}, {"_id": 0}).sort(
        [("date_added", pymongo.DESCENDING), ("isbn", pymongo.ASCENDING)]).limit(24).to_list(None)
    assert view.newest(24) == newest


@pytest.mark.gen_test
async def test_an_older_count_never_replaces_a_newer_one(services):
    view = services.catalog_view
    view.apply_stock({"isbn": PCI, "available": 7, "version": 9})
    view.apply_stock({"isbn": PCI, "available": 12, "version": 3})  # late, from before
    assert (view.get(PCI)["available"], view.get(PCI)["inventory_version"]) == (7, 9)
    # A re-read of the document racing a newer stock event keeps the newer count.
    await view.refresh([PCI])
    assert (view.get(PCI)["available"], view.get(PCI)["inventory_version"]) == (7, 9)


@pytest.mark.gen_test
async def test_the_count_of_changes_moves_with_every_change_to_any_book_and_nothing_else(services):
    """What a kept page of many books is checked against first (BaseHandler._books_unchanged)."""
    view = await loaded_view(services, random_books(3))
    isbn = random_books(3)[0]["isbn"]
    before = view.changes
    # Reads: they change nothing.
    view.search([], "title", 0, 12)
    view.newest(3)
    view.get(isbn)
    view.versions(isbn)
    view.held([isbn])
    view.apply_stock({"isbn": isbn, "available": 2, "version": 1})  # not newer: ignored
    assert view.changes == before
    view.apply_stock({"isbn": isbn, "available": 2, "version": 2})
    assert view.changes > before
    for change in ({"$set": {"title": "Retitled"}}, {"$set": {"status": "withdrawn"}}):
        before = view.changes
        await services.db.books.update_one({"isbn": isbn}, change)
        await view.refresh([isbn])
        assert view.changes > before, change
    before = view.changes
    await services.db.books.delete_one({"isbn": isbn})
    await view.refresh([isbn])
    assert view.get(isbn) is None and view.changes > before
    before = view.changes
    await services.db.books.insert_one(random_books(3)[0])  # back, as a new book
    await view.refresh([isbn])
    assert view.get(isbn) is not None and view.changes > before


@pytest.mark.gen_test
async def test_what_a_reader_changes_in_a_returned_book_does_not_change_the_view(services):
    book = await services.catalog.get(PCI)
    book["title"] = "Scribbled"
    assert (await services.catalog.get(PCI))["title"] == "Programming Collective Intelligence"


@contextlib.asynccontextmanager
async def two_processes(services, redis_server):
    """Two processes' worth of bus and view over one database, as in production: (the editing
    process's catalog and inventory, the other's view)."""
    buses = [RedisBus(redis_server.url, [COOKIE_SECRET]), RedisBus(redis_server.url, [COOKIE_SECRET])]
    views = [CatalogView(services.db, bus) for bus in buses]
    try:
        for bus, view in zip(buses, views, strict=True):
            await bus.start()
            await view.load()
        inventory = Inventory(services.db, buses[0], views[0], services.history)
        yield Catalog(services.db, inventory, views[0]), inventory, views[1]
    finally:
        for bus, view in zip(buses, views, strict=True):
            await bus.stop()
            await view.close()


async def edit_pci(catalog):
    form = {**await catalog.get_current(PCI), "price": "12.50", "title": "Collective Intelligence, 2nd ed."}
    await catalog.update(PCI, {k: str(v) for k, v in form.items()}, STAFF_EMAIL)


@pytest.mark.gen_test(timeout=20)
async def test_edits_and_stock_changes_in_one_process_reach_the_view_of_another(services, redis_server):
    async with two_processes(services, redis_server) as (catalog, inventory, other):
        await edit_pci(catalog)
        await inventory.take(PCI)

        # The editing process shows its own change at once; the other as soon as the bus brings it.
        assert catalog.view.get(PCI)["title"] == "Collective Intelligence, 2nd ed."
        await until(lambda: other.get(PCI)["title"] == "Collective Intelligence, 2nd ed.")
        await until(lambda: other.get(PCI)["available"] == 11)
        assert other.get(PCI)["price_cents"] == 1250
        books, total = other.search(["2nd"], "title", 0, 12)
        assert [book["isbn"] for book in books] == [PCI] and total == 1
        assert PCI not in [book["isbn"] for book in other.search(["programming"], "title", 0, 12)[0]]


@pytest.mark.gen_test(timeout=30)
async def test_edits_and_books_added_while_redis_was_away_reach_the_other_process(services, redis_server):
    async with two_processes(services, redis_server) as (catalog, _, other):
        redis_server.stop()  # the editing process keeps serving; its events reach itself only
        await edit_pci(catalog)
        await catalog.add({"isbn": UNKNOWN_ISBN, "title": "Added In The Outage", "author": "Ada Writer",
                           "price": "10", "stock": "3"}, STAFF_EMAIL)
        await services.db.books.delete_one({"isbn": RESTFUL})  # gone too, as a book can only be by hand

        redis_server.start()

        await until(lambda: other.get(PCI)["title"] == "Collective Intelligence, 2nd ed.")
        assert other.get(PCI)["price_cents"] == 1250
        await until(lambda: other.get(UNKNOWN_ISBN) is not None)
        assert [book["isbn"] for book in other.search(["outage"], "title", 0, 12)[0]] == [UNKNOWN_ISBN]
        await until(lambda: other.get(RESTFUL) is None)


def model_search(books, terms, sort, skip, limit):
    """Search as the README says it works, the slow way: the view must answer the same."""
    def weight(book, term):
        fields = [(4, words(book["title"])), (2, [book["isbn"], *words(book["subtitle"]), *words(book["author"])])]
        described = html_words(book["description"])
        found = [w for w, found in fields if any(word.startswith(term) for word in found)]
        if any(word.startswith(term) if len(term) >= 3 else word == term for word in described):
            found.append(1)
        return max(found, default=0)

    scored = [(sum(weight(book, t) for t in dict.fromkeys(terms)), book) for book in books
              if all(weight(book, t) for t in terms)]
    keys = {"relevance": lambda pair: (-pair[0], pair[1]["title"], pair[1]["isbn"]),
            "title": lambda pair: (pair[1]["title"], pair[1]["isbn"]),
            "price": lambda pair: (pair[1]["price_cents"], pair[1]["title"], pair[1]["isbn"]),
            "newest": lambda pair: (-pair[1]["date_added"].timestamp(), pair[1]["isbn"])}
    ordered = [book["isbn"] for _, book in sorted(scored, key=keys[sort])]
    return ordered[skip:skip + limit], len(ordered)


@pytest.mark.gen_test
async def test_descriptions_past_the_first_are_indexed_a_slice_at_a_time_between_other_work(services, monkeypatch):
    monkeypatch.setattr(slices, "SLICE", 0.0)  # the thinnest slice: one book a turn of the loop
    books = random_books(250)
    for n, book in enumerate(books):
        book["description"] = f"<p>marker{n:03d}</p>"
    view = await loaded_view(services, books)
    turns = 0
    while len(view._described) < len(books):
        await asyncio.sleep(0)  # what a request gets between slices
        turns += 1
    assert turns >= len(books) - catalog_view.DESCRIBED_AT_ONCE
    for n in (0, 99, 100, 249):
        assert [book["isbn"] for book in view.search([f"marker{n:03d}"], "relevance", 0, 12)[0]] == [books[n]["isbn"]]


@pytest.mark.gen_test
async def test_a_search_page_shown_while_descriptions_are_indexed_is_not_kept_after(client, services, monkeypatch):
    indexing = asyncio.Event()  # the background indexing waits for the first search, however quick it is

    async def after_the_first_search(numbers):
        await indexing.wait()
        for number in numbers:
            yield number

    monkeypatch.setattr(catalog_view, "in_slices", after_the_first_search)
    books = random_books(250)
    for n, book in enumerate(books):
        book.update(image=NO_COVER, description="<p>A zeppelin story.</p>" if n % 5 == 0 else "<p>Plain.</p>")
    view = services.catalog_view = services.catalog.view = await loaded_view(services, books)

    early = text_of((await client.get("/books/?q=zeppelin")).text)  # just started: 20 of the first 100 found
    indexing.set()
    await until(lambda: len(view._described) == len(books))

    assert "50 books" not in early
    assert "50 books" in text_of((await client.get("/books/?q=zeppelin")).text)


@pytest.mark.gen_test
async def test_books_edited_in_any_order_are_found_by_their_new_words_and_not_their_old(services):
    rng = random.Random(13)
    books = random_books(120)
    for book in books:
        book["description"] = "<p>" + " ".join(rng.choices(WORDS, k=6)) + "</p>"
    view = await loaded_view(services, books)
    await until(lambda: len(view._described) == len(books))
    # Indexed anew in any order (earlier books after later ones), some twice.
    for n, book in enumerate(rng.sample(books, 60) + rng.sample(books, 20)):
        book["title"] = " ".join(rng.choices(WORDS, k=2)).title()
        book["author"] = f"Quill{n} Writer"  # a word no book had, and the book's last one gone
        book["description"] = "<p>" + " ".join(rng.choices(WORDS, k=6)) + "</p>"
        book["keywords"] = keywords_for(book)
        await services.db.books.replace_one({"isbn": book["isbn"]}, dict(book))
        await view.refresh([book["isbn"]])
        if n % 7 == 0:
            found, total = view.search(["quill"], "title", 0, 200)
            assert ([book["isbn"] for book in found], total) == model_search(books, ["quill"], "title", 0, 200)
    for terms in [["c"], ["python"], ["cat"], ["data", "web"], ["été"], ["torn"], ["quill1"], ["ada"]]:
        for sort in catalog_view.SORTS:
            found, total = view.search(terms, sort, 0, 200)
            assert ([book["isbn"] for book in found], total) == model_search(books, terms, sort, 0, 200), (terms, sort)


@pytest.mark.parametrize("sorted_at_most", [10, 2_000])  # many matches picked from the kept orders, or sorted
@pytest.mark.gen_test
async def test_search_with_descriptions_ranks_as_described(services, monkeypatch, sorted_at_most):
    monkeypatch.setattr(catalog_view, "SORTED_AT_MOST", sorted_at_most)
    rng = random.Random(11)
    books = random_books(350)
    for book in books:
        book["description"] = "<p>" + " ".join(rng.choices([*WORDS, "c++", "an", "<em>x</em>"], k=8)) + "</p>"
    view = await loaded_view(services, books)
    await until(lambda: len(view._described) == len(books))  # past the first batch, in the background
    queries = [["c"], ["c++"], ["py"], ["python", "web"], ["cat"], ["an"], ["x"], ["em"], ["tor", "ada"]]
    for terms in queries:
        for sort in catalog_view.SORTS:
            for skip, limit in ((0, 12), (12, 12), (300, 60)):
                books_found, total = view.search(terms, sort, skip, limit)
                assert ([book["isbn"] for book in books_found], total) == model_search(books, terms, sort, skip,
                                                                                       limit), (terms, sort, skip)
