"""The shop's store as tests read and arrange it directly: stock counts, "nothing changed" snapshots, aged carts,
and store calls that let concurrent requests interleave."""

import asyncio
import datetime
import inspect

from tests.constants import PCI

ROUND_TRIP = 0.002  # seconds: a MongoDB server on the local network

# Every collection a request could change, each in a stable order.
SNAPSHOT_ORDER = {"books": "isbn", "users": "email", "carts": "_id", "orders": "_id"}


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


class Interleaving:
    """A collection whose every call takes a round trip, letting other requests run meanwhile as a real server does.

    The embedded store (mongomock-motor) never yields to the event loop, so
    without this two requests can never interleave and a check-then-act race
    could not show in a test.
    """

    def __init__(self, collection):
        self._collection = collection

    def __getattr__(self, name):
        attribute = getattr(self._collection, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        async def round_trip(*args, **kwargs):
            await asyncio.sleep(ROUND_TRIP / 2)
            result = await attribute(*args, **kwargs)
            await asyncio.sleep(ROUND_TRIP / 2)
            return result

        return round_trip


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
