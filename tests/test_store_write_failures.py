"""A write the disk refuses fails, and leaves nothing changed: not in memory, not after a restart."""

import asyncio
import dataclasses
import gc
import resource
import signal
import tempfile
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from burts_books.infra.db import StoreWriteFailed
from burts_books.infra.embedded.journal import JournalWriter
from tests.constants import PASSWORD, STAFF_EMAIL
from tests.shop_client import ShopClient, text_of
from tests.shop_process import ShopProcess, run_cli
from tests.store import everything

PCI = "9780596529321"
NEW_ISBN = "9781234567897"
JSON = {"Accept": "application/json"}


@pytest.fixture
def settings(settings):
    """These tests are about the embedded store, even when MONGODB_URL is set."""
    return dataclasses.replace(settings, mongodb_url=None, mongodb_database="burts_books")


@pytest.fixture
def full_disk(services):
    """From now on the journal is appended to a device that has no space left (ENOSPC)."""
    services.db.store.start_journal(JournalWriter.open(Path("/dev/full")))


@pytest.mark.gen_test
async def test_every_kind_of_write_raises_and_changes_nothing(services, full_disk):
    books = services.db.books
    before = await everything(services.db)
    writes = [
        lambda: books.insert_one({"isbn": NEW_ISBN, "title": "Never Saved"}),
        lambda: books.insert_many([{"isbn": "9780000000002"}, {"isbn": "9780000000019"}]),
        lambda: books.update_one({"isbn": PCI}, {"$inc": {"available": -1}}),
        lambda: books.update_many({}, {"$set": {"isbn": "changed"}}),
        lambda: books.find_one_and_update({"isbn": PCI}, {"$set": {"stock": 0}}),
        lambda: books.replace_one({"isbn": PCI}, {"isbn": PCI, "title": "Replaced"}),
        lambda: books.find_one_and_delete({"isbn": PCI}),
        lambda: books.delete_many({}),
        lambda: books.update_one({"isbn": NEW_ISBN}, {"$set": {"title": "Upserted"}}, upsert=True),
        lambda: books.create_index("author"),
        lambda: books.drop_index("isbn_1"),
        lambda: services.db.carts.drop(),
    ]
    for write in writes:
        with pytest.raises(StoreWriteFailed):
            await write()
        assert await everything(services.db) == before


@pytest.mark.gen_test
async def test_writes_that_built_on_a_failed_one_are_undone_with_it(services, full_disk):
    before = await everything(services.db)
    # All made before the first append is tried, later ones on top of earlier ones.
    results = await asyncio.gather(
        services.db.books.update_one({"isbn": PCI}, {"$inc": {"available": -1}}),
        services.db.books.update_one({"isbn": PCI, "available": 11}, {"$inc": {"available": -1}}),
        services.db.books.delete_one({"isbn": PCI, "available": 10}),
        services.db.books.insert_one({"isbn": PCI, "title": "Took its place"}),
        return_exceptions=True,
    )
    assert [type(result) for result in results] == [StoreWriteFailed] * 4
    assert await everything(services.db) == before


@pytest.mark.gen_test
async def test_writes_that_changed_nothing_but_rested_on_a_failed_one_fail_with_it(services, full_disk):
    carts = services.db.carts
    before = await everything(services.db)
    results = await asyncio.gather(
        carts.insert_one({"_id": "cart", "status": "ordered"}),
        # Answered from the cart above: it is there, and so already (a retry, say).
        carts.update_one({"_id": "cart"}, {"$set": {"status": "ordered"}}),
        carts.insert_one({"_id": "cart", "status": "ordered"}),
        return_exceptions=True,
    )
    # Not "matched" nor "duplicate key" for a cart that was never saved.
    assert [type(result) for result in results] == [StoreWriteFailed] * 3
    assert await everything(services.db) == before


@pytest.mark.gen_test
async def test_a_request_whose_write_fails_answers_5xx_and_changes_nothing(services, client, staff, full_disk):
    before = await everything(services.db)

    added = await client.post("/add", {"isbn": NEW_ISBN, "title": "Never Saved", "author": "A. Writer",
                                       "price": "10", "stock": "3"})
    carted = await client.post("/cart", {"action": "add", "isbn": PCI}, headers=JSON)
    restocked = await restock(client, 5)

    assert [added.code, carted.code, restocked.code] == [503, 503, 503]
    # The shopper and the program are told plainly, and when to try again.
    assert "could not save this change, so nothing was changed" in text_of(added.text)
    assert carted.json()["error"]["message"] == StoreWriteFailed.MESSAGE
    assert restocked.headers["Retry-After"] == "5"
    assert await everything(services.db) == before
    assert (await client.get(f"/api/books/{NEW_ISBN}")).code == 404


def test_a_shop_whose_disk_refuses_writes_fails_them_and_loses_nothing_across_kill_9():
    """A real process, a real file-size limit (EFBIG) on its journal, a real SIGKILL."""
    with tempfile.TemporaryDirectory() as data_dir:
        created = run_cli("create-user", STAFF_EMAIL, "--staff", data_dir=data_dir, stdin=PASSWORD + "\n")
        assert created.returncode == 0, created.stderr
        shop = ShopProcess(Path(data_dir)).start()
        try:
            acknowledged = asyncio.run(refused_then_recovered(shop))
            shop.process.send_signal(signal.SIGKILL)
            shop.process.wait()
            shop.start()
            assert asyncio.run(after_the_restart(shop)) == acknowledged
        finally:
            shop.stop()


def limit_file_size(shop: ShopProcess, limit: int) -> None:
    resource.prlimit(shop.process.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


async def restock(client: ShopClient, copies: int):
    return await client.post_json(f"/api/books/{PCI}/restock", {"copies": copies})


async def refused_then_recovered(shop: ShopProcess) -> dict:
    """Writes refused while the journal may not grow, then one accepted; returns the book as acknowledged."""
    client = ShopClient(AsyncHTTPClient(), shop.url)
    await client.login(STAFF_EMAIL)
    start = (await client.get(f"/api/books/{PCI}")).json()

    journal = max((shop.data_dir / "embedded-store").glob("journal-*"))
    limit_file_size(shop, journal.stat().st_size)  # not one byte more for the journal
    refused = [
        await client.post("/add", {"isbn": NEW_ISBN, "title": "Never Saved", "author": "A. Writer",
                                   "price": "10", "stock": "3"}),
        await restock(client, 5),
        await client.post("/cart", {"action": "add", "isbn": PCI}, headers=JSON),
    ]
    assert [response.code // 100 for response in refused] == [5, 5, 5]
    assert (await client.get(f"/api/books/{NEW_ISBN}")).code == 404
    assert (await client.get(f"/api/books/{PCI}")).json() == start

    limit_file_size(shop, resource.RLIM_INFINITY)
    restocked = await restock(client, 2)
    assert restocked.code == 200, restocked.text
    assert restocked.json()["book"]["available"] == start["available"] + 2
    return restocked.json()["book"]


async def after_the_restart(shop: ShopProcess) -> dict:
    client = ShopClient(AsyncHTTPClient(), shop.url)
    assert (await client.get(f"/api/books/{NEW_ISBN}")).code == 404
    book = (await client.get(f"/api/books/{PCI}")).json()
    return {field: book[field] for field in ("isbn", "available", "version")}


@pytest.mark.gen_test
async def test_a_cart_add_whose_writes_fail_announces_no_count(services, full_disk):
    """A cart add waits for the disk once, at its end: until then no count may be told to anyone."""
    announced = []
    services.bus.subscribe(announced.append)
    before = await everything(services.db)
    shown = dict(services.catalog_view.get(PCI))
    with pytest.raises(StoreWriteFailed):
        await services.carts.add(None, None, PCI, "10.0.0.1")
    await asyncio.sleep(0.05)  # the bus delivers on the next turns of the loop
    assert announced == []
    assert await everything(services.db) == before
    assert services.catalog_view.get(PCI) == shown  # the pages' count too


@pytest.mark.gen_test
async def test_no_write_builds_on_one_of_the_same_request_that_failed(services, full_disk):
    books = services.db.books
    before = await everything(services.db)
    with pytest.raises(StoreWriteFailed):
        async with services.db.writes_together():
            await books.update_one({"isbn": PCI}, {"$inc": {"available": -1}})
            for _ in range(20):  # until the journal has refused it
                await asyncio.sleep(0.01)
            with pytest.raises(StoreWriteFailed):
                await books.update_one({"isbn": PCI}, {"$set": {"title": "Built on an undone write"}})
    assert await everything(services.db) == before


@pytest.mark.gen_test
async def test_writes_that_fail_together_leave_no_unread_failure_behind(services, full_disk):
    """The shop logs a refused write once; asyncio must not add a traceback per write of a request
    ("Future exception was never retrieved") once their futures are collected."""
    complaints = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: complaints.append(context["message"]))
    failed = False
    try:  # not pytest.raises: the failure it keeps would keep the futures alive
        async with services.db.writes_together():
            await services.db.carts.insert_one({"status": "open"})
            await services.db.books.update_one({"isbn": PCI}, {"$inc": {"available": -1}})
    except StoreWriteFailed:
        failed = True
    await asyncio.sleep(0)  # out of the callback that woke us: it holds the last write's future
    gc.collect()
    loop.set_exception_handler(None)
    assert failed
    assert complaints == []
