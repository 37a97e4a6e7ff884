"""Stock counts: every change is one atomic update on the book, then one bus event.

A book holds `stock` (copies on hand), `available` (copies that can still go
into a cart) and `inventory_version` (bumped on every change, so clients can
tell a newer count from an older one).
"""

from __future__ import annotations

from .db import Database

STATE_FIELDS = {"_id": 0, "isbn": 1, "available": 1, "inventory_version": 1}


class StockError(ValueError):
    """A stock change that would leave fewer copies than shoppers hold in carts."""


def event_for(book: dict) -> dict:
    return {"isbn": book["isbn"], "available": book["available"], "version": book["inventory_version"]}


class Inventory:
    def __init__(self, db: Database, bus):
        self.books = db.books
        self.bus = bus

    async def state(self, isbn: str) -> dict | None:
        book = await self.books.find_one({"isbn": isbn}, STATE_FIELDS)
        return event_for(book) if book else None

    async def publish_state(self, isbn: str) -> None:
        state = await self.state(isbn)
        if state is not None:
            await self.bus.publish(state)

    async def set_stock(self, isbn: str, stock: int) -> None:
        """Set the copies on hand; copies held in carts stay held."""
        while True:
            book = await self.books.find_one({"isbn": isbn}, {"stock": 1, "available": 1})
            if book is None:
                raise LookupError(isbn)
            delta = stock - book["stock"]
            if delta == 0:
                return
            held = book["stock"] - book["available"]
            if stock < held:
                raise StockError(f"{held} copies are in shoppers' carts; stock can't go below {held}.")
            # Conditioned on the stock we read, so a concurrent checkout makes us re-read.
            result = await self.books.update_one(
                {"isbn": isbn, "stock": book["stock"], "available": {"$gte": -delta}},
                {"$inc": {"stock": delta, "available": delta, "inventory_version": 1}},
            )
            if result.modified_count:
                await self.publish_state(isbn)
                return
