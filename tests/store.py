"""The shop's store as tests read and arrange it directly: stock counts, "nothing changed" snapshots, aged carts,
and store calls that let concurrent requests interleave."""

import asyncio
import contextlib
import datetime
import os
import uuid

from burts_books.infra import migrations
from burts_books.infra.config import Settings
from burts_books.infra.db import open_database
from burts_books.services import Services, open_services
from tests.constants import COOKIE_SECRET, PCI

ROUND_TRIP = 0.002  # seconds: a MongoDB server on the local network

# Every collection a request could change, each in a stable order.
SNAPSHOT_ORDER = {
    "books": "isbn", "users": "email", "carts": "_id", "orders": "_id", "api_tokens": "_id", "identities": "_id",
    "password_resets": "_id", "counters": "_id", "restock_alerts": "_id", "history": "_id",
}


def shop_settings(data_dir, **changes) -> Settings:
    """Settings for a shop under test: the embedded store, or a database of its own on MONGODB_URL's server."""
    mongodb_url = os.environ.get("MONGODB_URL")
    return Settings(
        cookie_secret=COOKIE_SECRET,
        data_dir=data_dir,
        mongodb_url=mongodb_url,
        # A database per test on a real server, so tests never see each other's data.
        mongodb_database=f"burts_test_{uuid.uuid4().hex[:12]}" if mongodb_url else "burts_books",
        **changes,
    )


async def open_test_services(settings: Settings) -> Services:
    """The shop's services on a fresh, migrated store (the embedded one lives in memory only)."""
    if settings.mongodb_url:
        db = await open_database(settings)
        await migrations.migrate(db)
        await db.close()
    return await open_services(settings, persist=False)


async def drop_test_database(settings: Settings, db) -> None:
    """On a MongoDB server, drop the database this test had to itself (the embedded store is only in memory)."""
    if settings.mongodb_url:
        await db.client.drop_database(settings.mongodb_database)


async def close_test_services(settings: Settings, services: Services) -> None:
    await drop_test_database(settings, services.db)
    await services.close()


async def store_snapshot(services):
    """Everything a request could change: books, users, carts and orders, whole. Compare two to see nothing changed."""
    return {
        name: await services.db.db[name].find({}).sort(key).to_list(None)
        for name, key in SNAPSHOT_ORDER.items()
    }


async def stock_of(services, isbn=PCI):
    """{stock, available, inventory_version} of one book, as stored."""
    return await services.db.books.find_one(
        {"isbn": isbn}, {"_id": 0, "stock": 1, "available": 1, "inventory_version": 1}
    )


async def set_stock(services, copies, isbn=PCI, available=None):
    """Put `copies` on hand, all of them available unless `available` says otherwise."""
    await services.db.books.update_one(
        {"isbn": isbn}, {"$set": {"stock": copies, "available": copies if available is None else available}}
    )


async def age_carts(services, seconds, *cart_ids):
    """Pretend the carts (every cart unless some are named) were last touched `seconds` earlier than they were."""
    found = {"_id": {"$in": list(cart_ids)}} if cart_ids else {}
    async for cart in services.db.carts.find(found):
        await services.db.carts.update_one(
            {"_id": cart["_id"]}, {"$set": {"touched_at": cart["touched_at"] - datetime.timedelta(seconds=seconds)}}
        )


# The database calls of a Motor collection (coroutines on mongomock-motor, futures on Motor).
DATABASE_CALLS = frozenset({
    "bulk_write", "count_documents", "create_index", "delete_many", "delete_one", "distinct",
    "estimated_document_count", "find_one", "find_one_and_delete", "find_one_and_replace",
    "find_one_and_update", "index_information", "insert_many", "insert_one", "replace_one",
    "update_many", "update_one",
})
CURSOR_CALLS = frozenset({"find", "aggregate"})  # their round trips happen as the cursor is read


class CollectionProxy:
    """A collection whose every database call goes through `around`, on either engine."""

    def __init__(self, collection):
        self._collection = collection

    def __getattr__(self, name):
        attribute = getattr(self._collection, name)
        if name in CURSOR_CALLS:
            return lambda *args, **kwargs: self.cursor(name, args, kwargs, attribute)
        if name not in DATABASE_CALLS:
            return attribute

        async def call(*args, **kwargs):
            return await self.around(name, args, kwargs, attribute)

        return call

    async def around(self, name, args, kwargs, call):
        return await call(*args, **kwargs)

    def cursor(self, name, args, kwargs, make):
        return make(*args, **kwargs)


class Interleaving(CollectionProxy):
    """A collection whose every call takes a round trip, letting other requests run meanwhile as a real server does.

    The embedded store (mongomock-motor) never yields to the event loop, so
    without this two requests can never interleave and a check-then-act race
    could not show in a test.
    """

    async def around(self, name, args, kwargs, call):
        await asyncio.sleep(ROUND_TRIP / 2)
        result = await call(*args, **kwargs)
        await asyncio.sleep(ROUND_TRIP / 2)
        return result


def interleave_store_calls(services):
    """Make every books/carts/orders call of the shop's services a point where concurrent requests interleave."""
    services.inventory.books = Interleaving(services.inventory.books)
    services.carts.books = Interleaving(services.carts.books)
    services.carts.carts = Interleaving(services.carts.carts)
    services.orders.orders = Interleaving(services.orders.orders)


async def everything(db) -> dict:
    """Every collection's documents in natural order and its indexes, and each book as found by its ISBN."""
    state = {
        name: (await db.db[name].find().to_list(None), await db.db[name].index_information())
        for name in sorted(await db.db.list_collection_names())
    }
    books = state.get("books", ([], {}))[0]
    state["books by isbn"] = [await db.books.find_one({"isbn": book["isbn"]}) for book in books]
    return state


@contextlib.asynccontextmanager
async def running_shop(settings: Settings):
    """The services of a shop on `settings`' own store (persisted, as `serve` keeps it), closed after."""
    services = await open_services(settings)
    try:
        yield services
    finally:
        await services.close()
