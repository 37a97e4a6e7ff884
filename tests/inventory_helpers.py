"""Helpers for the cart, checkout and live-inventory tests."""

import asyncio
import re

PCI = "9780596529321"  # Programming Collective Intelligence: 12 copies in the seed
RESTFUL = "9780596529260"  # RESTful Web Services
JSON = {"Accept": "application/json"}


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


def recorder(bus):
    events = []
    bus.subscribe(events.append)
    return events


def cart_count(html):
    """The number of copies the header's Cart link shows."""
    return int(re.search(r'class="cart-count">(\d+)<', html).group(1))
