"""Stock counts: every change is one atomic update on the book, then one bus event.

A book holds `stock` (copies on hand), `available` (copies that can still go
into a cart) and `inventory_version` (bumped on every change of either, so
clients can tell a newer count from an older one). The invariant is
`available == stock - copies held in open carts`; `reconcile` restores it
after a crash between a cart write and a book write.

Every change of stock on hand (and every repair of `available`) carries its
history entry in the same update (see history.py); cart holds don't.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from pymongo import ReturnDocument

from . import history
from .catalog_view import CatalogView
from .infra.bus import EventBus
from .infra.db import Database
from .infra.errors import Conflict, NotFound
from .infra.slices import in_slices

log = logging.getLogger(__name__)

STATE_FIELDS = {"_id": 0, "isbn": 1, "available": 1, "inventory_version": 1}
NOT_WITHDRAWN = {"withdrawn": {"$ne": True}}

MAX_STOCK = 100_000


def copies_text(count: int) -> str:
    """A number of copies in words, as every page and mail says it: "1 copy", "3 copies"."""
    return "1 copy" if count == 1 else f"{count} copies"


class StockError(Conflict):
    """A stock change that would leave fewer copies than shoppers hold in carts."""


def event_for(book: dict) -> dict:
    return {"isbn": book["isbn"], "available": book["available"], "version": book["inventory_version"]}


# held_copies() -> ({isbn: copies held in open carts}, {isbns some cart is changing right now})
HeldCopies = Callable[[], Awaitable[tuple[dict[str, int], set[str]]]]


class Inventory:
    def __init__(self, db: Database, bus: EventBus, view: CatalogView, changes: history.History):
        self.db = db
        self.books = db.books
        self.bus = bus
        self.view = view
        self.history = changes

    async def _announce(self, state: dict) -> None:
        # Once the change is durable (a count announced must never be undone). This
        # process's pages show it before the answer goes out; the bus tells the live
        # feed and the other processes.
        await self.db.when_durable(functools.partial(self._tell, state))

    async def _tell(self, state: dict) -> None:
        self.view.apply_stock(state)
        await self.bus.publish(state)

    async def state(self, isbn: str) -> dict | None:
        book = await self.books.find_one({"isbn": isbn}, STATE_FIELDS)
        return event_for(book) if book else None

    def announced_states(self, isbns: Iterable[str] | None = None) -> list[dict]:
        """These books' states as this process has announced them (all books for None; unknown ISBNs
        left out): from the catalog view, which takes every state the bus carries before the live feed
        does, and this process's own once durable. No read: what a subscriber starts from."""
        return [event_for(book) for book in self.view.held(isbns)]

    async def states(self, isbns: Iterable[str] | None = None) -> list[dict]:
        """Current states of these books (all books for None), read from the database; unknown ISBNs are left out."""
        criteria = {} if isbns is None else {"isbn": {"$in": list(isbns)}}
        return [event_for(book) async for book in self.books.find(criteria, STATE_FIELDS)]

    async def publish_state(self, isbn: str) -> None:
        await self.publish_states([isbn])

    async def publish_states(self, isbns: Iterable[str]) -> None:
        """One event per book with its current state (one read for all of them)."""
        isbns = list(isbns)
        if isbns:
            for state in await self.states(isbns):
                await self._announce(state)

    async def _change(self, criteria: dict, inc: dict, entries: Sequence[dict] = ()) -> dict | None:
        """One conditional update of the book's counts (recording `entries`), its version bumped; publishes
        and returns the new state, or None."""
        # The document as it was, plus our increments, is exactly what the
        # update left. (Asking for the document after the update instead
        # makes mongomock re-run the filter, which may no longer match.)
        before = await self.books.find_one_and_update(
            criteria,
            history.recording({"$inc": {**inc, "inventory_version": 1}}, entries),
            projection=STATE_FIELDS,
            return_document=ReturnDocument.BEFORE,
        )
        if before is None:
            return None
        state = event_for(before)
        state.update(available=state["available"] + inc["available"], version=state["version"] + 1)
        if entries:
            await self.history.drain_books([state["isbn"]])
        await self._announce(state)
        return state

    async def take(self, isbn: str, copies: int = 1) -> dict | None:
        """Take copies for a cart, all or none; None when fewer are available. Never goes below zero."""
        return await self._change({"isbn": isbn, "available": {"$gte": copies}, **NOT_WITHDRAWN},
                                  {"available": -copies})

    async def sale_state(self, isbn: str) -> tuple[dict | None, bool]:
        """The book's state (None for an unknown ISBN), and whether it is withdrawn from sale."""
        book = await self.books.find_one({"isbn": isbn}, {**STATE_FIELDS, "withdrawn": 1})
        if book is None:
            return None, False
        return event_for(book), bool(book.get("withdrawn"))

    async def give_back(self, isbn: str, copies: int) -> dict | None:
        """Copies a cart let go of become available again."""
        return await self._change({"isbn": isbn}, {"available": copies})

    async def restock(self, isbn: str, copies: int, who: str) -> dict | None:
        """New copies arrived; None when there is no such book or stock would pass MAX_STOCK."""
        return await self._change(
            {"isbn": isbn, "stock": {"$lte": MAX_STOCK - copies}},
            {"stock": copies, "available": copies},
            [history.entry("restock", who, isbn, copies=copies)],
        )

    async def cancel_sale(self, isbn: str, copies: int, who: str, order: str) -> dict | None:
        """Copies of a cancelled order go back on sale at once; None when there is no such book."""
        return await self._change(
            {"isbn": isbn}, {"stock": copies, "available": copies},
            [history.entry("cancellation", who, isbn, copies=copies, order=order)],
        )

    async def ship(self, isbn: str, copies: int, who: str = "checkout", order: str = "") -> bool:
        """Copies held by an ordered cart leave stock for good (`available` already excludes them).

        Announced like any change (the same `available`, a new version): whoever follows the book's
        version learns that stock on hand moved."""
        sale = history.entry("sale", who, isbn, copies=-copies, **({"order": order} if order else {}))
        shipped = await self._change({"isbn": isbn, "stock": {"$gte": copies}}, {"stock": -copies, "available": 0},
                                     [sale])
        return shipped is not None

    async def set_stock(self, isbn: str, stock: int, expected: int | None = None, who: str = history.SHOP) -> None:
        """Set the copies on hand; copies held in carts stay held.

        `expected` is the stock the editor was shown: a sale or restock since
        then must not be undone by saving that form, so an unchanged number
        leaves stock alone and a changed one is refused.
        """
        while True:
            book = await self.books.find_one({"isbn": isbn}, {"stock": 1, "available": 1})
            if book is None:
                raise NotFound(f"No book with ISBN {isbn}.")
            if expected is not None and book["stock"] != expected:
                if stock == expected:
                    return
                raise StockError(f"Stock changed to {book['stock']} while you were editing; "
                                 "check the number and save again.")
            delta = stock - book["stock"]
            if delta == 0:
                return
            held = book["stock"] - book["available"]
            if stock < held:
                raise StockError(f"{held} copies are in shoppers' carts; stock can't go below {held}.")
            # Conditioned on the stock we read, so a concurrent checkout makes us re-read.
            change = history.entry("stock", who, isbn, copies=delta, old=book["stock"], new=stock)
            result = await self.books.update_one(
                {"isbn": isbn, "stock": book["stock"], "available": {"$gte": -delta}},
                history.recording({"$inc": {"stock": delta, "available": delta, "inventory_version": 1}}, [change]),
            )
            if result.modified_count:
                await self.history.drain_books([isbn])
                await self.publish_state(isbn)
                return

    async def reconcile(self, held_copies: HeldCopies) -> list[str]:
        """Set `available = stock - held` where they disagree; returns the ISBNs repaired.

        Books are read before carts and each fix is conditioned on the version
        and stock read, so a cart change or a checkout's `ship` landing in
        between makes us skip that book rather than count it twice. Books a
        cart is changing right now (its two writes may be half done) are left
        for the next run.
        """
        books = [book async for book in self.db.scan("books", ("isbn", "stock", "available", "inventory_version"))]
        held, busy = await held_copies()
        repaired = []
        async for book in in_slices(books):  # 20,000 books compared in one go held the loop for 15 ms
            isbn = book["isbn"]
            should_be = book["stock"] - held.get(isbn, 0)
            if isbn in busy or book["available"] == should_be:
                continue
            if should_be < 0:
                log.error("carts hold %d copies of %s but only %d are in stock",
                          held[isbn], isbn, book["stock"])
                should_be = 0
            if should_be == book["available"]:
                continue
            state = await self._change(
                {"isbn": isbn, "inventory_version": book["inventory_version"], "stock": book["stock"]},
                {"available": should_be - book["available"]},
                [history.entry("reconciliation", history.SHOP, isbn, old=book["available"], new=should_be)],
            )
            if state is not None:
                log.warning("reconciled %s: available %d -> %d", isbn, book["available"], should_be)
                repaired.append(isbn)
        return repaired


def stock_level(available: int, low_stock_threshold: int) -> str:
    """"sold-out", "low" (fewer than the --low-stock-threshold setting) or "ok": the staff stock page's
    bands, and the class of a shopper's stock line; static/js/live_feed.js tells them the same way."""
    if available <= 0:
        return "sold-out"
    return "low" if available < low_stock_threshold else "ok"


def availability(available: int, low_stock_threshold: int) -> str:
    """What a shopper reads about a book's stock; static/js/inventory.js words it the same way."""
    level = stock_level(available, low_stock_threshold)
    if level == "sold-out":
        return "Sold out"
    return f"Only {available} left" if level == "low" else "In stock"
