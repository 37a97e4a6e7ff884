"""Helpers for the cart, checkout and live-inventory tests."""

import asyncio
import inspect
import re

PCI = "9780596529321"  # Programming Collective Intelligence: 12 copies in the seed
RESTFUL = "9780596529260"  # RESTful Web Services
JSON = {"Accept": "application/json"}
ROUND_TRIP = 0.002  # seconds: a MongoDB server on the local network


async def until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def cart_json(client, action, isbn=PCI):
    """What the page script does: POST /cart as a form, asking for JSON."""
    return await client.post("/cart", {"action": action, "isbn": isbn}, headers=JSON)


async def stock_of(services, isbn=PCI):
    return await services.db.books.find_one(
        {"isbn": isbn}, {"_id": 0, "stock": 1, "available": 1, "inventory_version": 1}
    )


async def set_stock(services, copies, isbn=PCI):
    await services.db.books.update_one({"isbn": isbn}, {"$set": {"stock": copies, "available": copies}})


async def snapshot(services):
    """Everything a cart change could touch: stock counts, carts and orders."""
    books = await services.db.books.find(
        {}, {"_id": 0, "isbn": 1, "stock": 1, "available": 1, "inventory_version": 1}
    ).sort("isbn").to_list(None)
    carts = await services.db.carts.find({}, {"_id": 1, "status": 1, "holds": 1}).sort("_id").to_list(None)
    orders = await services.db.orders.count_documents({})
    return books, carts, orders


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


def recorder(bus):
    events = []
    bus.subscribe(events.append)
    return events


def cart_count(html):
    """The number of copies the header's Cart link shows."""
    return int(re.search(r'class="cart-count">(\d+)<', html).group(1))
