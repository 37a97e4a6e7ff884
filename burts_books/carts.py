"""Shopping carts: holds on copies, never more than the shop has.

A cart document is `{_id, status, holds: {isbn: copies}, adding: {isbn:
copies}, copies, revision, user_id, created_at, touched_at}`; `status` goes
from "open" to "ordered" or "expired", each by one atomic claim, so only one
process acts on it. `copies` counts holds and adds under way together, so
that one conditional update can keep a cart under its cap across all titles
however many adds race.

Adding first marks the copy in `adding`, then takes it from the book, then
moves it from `adding` to `holds`. A checkout orders `holds` only, so it can
never order a copy that was not taken; `adding` still counts as held for
reconciliation, so a crash part-way only keeps a copy off sale until the
cart closes. Every cart write sets `touched_at`, and reconciliation leaves
alone the books of carts touched in the last GRACE seconds, whose next
write may still be on its way. So a half-done change is never counted twice
into an oversell.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import secrets

import pymongo

from .infra.clock import utcnow
from .infra.db import Database
from .infra.errors import Conflict, Invalid
from .infra.limits import Limits
from .inventory import Inventory

log = logging.getLogger(__name__)

MAX_PER_TITLE = 10
GRACE = datetime.timedelta(seconds=5)
SOLD_OUT_MESSAGE = "Sorry, this book just sold out."
WITHDRAWN_MESSAGE = "Sorry, this book is no longer available."
FORGET_BATCH = 200  # closed carts deleted in one write
CLOSED_CART_RETENTION = datetime.timedelta(days=1)
LINE_FIELDS = {"_id": 0, "isbn": 1, "title": 1, "price_cents": 1}


class CartError(Conflict):
    """A cart change that was refused; the message is for the shopper. Nothing changed."""

    def __init__(self, message: str, state: dict | None = None):
        super().__init__(message)
        self.state = state  # the book's current state, when the refusal is about a book


class SoldOut(CartError):
    pass


class EmptyCart(Invalid):
    pass


@dataclasses.dataclass(frozen=True)
class Cart:
    id: str
    holds: dict[str, int]
    revision: int
    user_id: object = None

    @classmethod
    def from_document(cls, doc: dict) -> Cart:
        holds = {isbn: copies for isbn, copies in doc.get("holds", {}).items() if copies > 0}
        return cls(doc["_id"], holds, doc["revision"], doc.get("user_id"))

    def quantity(self, isbn: str) -> int:
        return self.holds.get(isbn, 0)

    @property
    def count(self) -> int:
        return sum(self.holds.values())


class Carts:
    def __init__(self, db: Database, inventory: Inventory, limits: Limits):
        self.db = db
        self.carts = db.carts
        self.books = db.books
        self.inventory = inventory
        self.limits = limits

    async def find(self, cart_id: str | None, user: dict | None) -> Cart | None:
        """The open cart with this id, if this visitor may see it.

        A cart that belongs to an account is only that account's: signing
        out (or another person signing in on the same browser) hides it.
        """
        if not cart_id:
            return None
        doc = await self.carts.find_one({"_id": cart_id, "status": "open"})
        if doc is None or doc.get("user_id") not in (None, user and user["_id"]):
            return None
        return Cart.from_document(doc)

    async def lines(self, cart: Cart | None) -> list[dict]:
        """The cart's items with title and price, in title order."""
        if cart is None or not cart.holds:
            return []
        books = self.books.find({"isbn": {"$in": list(cart.holds)}}, LINE_FIELDS)
        items = [dict(book, quantity=cart.holds[book["isbn"]]) async for book in books]
        return sorted(items, key=lambda item: (item["title"], item["isbn"]))

    async def contents(self, cart: Cart | None) -> dict:
        """What the cart page and the JSON answers show: items, copies and total."""
        items = await self.lines(cart)
        return {
            "items": items,
            "count": sum(item["quantity"] for item in items),
            "total_cents": sum(item["quantity"] * item["price_cents"] for item in items),
        }

    async def _new_cart(self, user: dict | None) -> Cart:
        moment = utcnow()
        doc = {
            "_id": secrets.token_urlsafe(18),
            "status": "open",
            "holds": {},
            "copies": 0,
            "revision": 0,
            "user_id": user and user["_id"],
            "created_at": moment,
            "touched_at": moment,
        }
        await self.carts.insert_one(doc)
        return Cart.from_document(doc)

    async def _change(self, cart: Cart, criteria: dict, inc: dict, *, only_open: bool = True) -> bool:
        filter_ = {"_id": cart.id, "status": "open", **criteria} if only_open else {"_id": cart.id}
        result = await self.carts.update_one(filter_, {"$inc": inc, "$set": {"touched_at": utcnow()}})
        return result.modified_count == 1

    async def add(self, cart: Cart | None, user: dict | None, isbn: str, address: str) -> tuple[Cart | None, dict]:
        """Put one copy in the cart (a new cart when there is none); returns (cart, book state).

        Adds are limited per visitor and per client `address`, and more tightly for visitors
        not signed in, who can start a new cart with every request: TooMany past a limit.
        """
        limits = self.limits
        await limits.hit(limits.cart_adds_per_address, address)
        if user is None:
            await limits.hit(limits.anonymous_adds_per_address, address)
        visitor = f"user:{user['_id']}" if user else cart and f"cart:{cart.id}"
        if visitor:
            await limits.hit(limits.cart_adds_per_visitor, visitor)
        return await self._add(cart, user, isbn)

    async def _add(self, cart: Cart | None, user: dict | None, isbn: str) -> tuple[Cart | None, dict]:
        if cart is None:
            current = await self._on_sale(isbn)
            if current is not None and current["available"] <= 0:
                # Nothing to hold: don't open a cart only to refuse the first copy.
                raise SoldOut(SOLD_OUT_MESSAGE, current)
            cart = await self._new_cart(user)
        most = self.limits.copies_per_cart
        below_cap = {"$or": [{f"holds.{isbn}": {"$exists": False}}, {f"holds.{isbn}": {"$lt": MAX_PER_TITLE}}]}
        room = {**below_cap, "copies": {"$lt": most}}  # every cart counts its copies (migration 0007)
        taking_back = {f"adding.{isbn}": -1, "copies": -1}
        if await self._change(cart, room, {f"adding.{isbn}": 1, "copies": 1}):
            state = await self.inventory.take_one(isbn)
            if state is None:
                await self._change(cart, {}, taking_back, only_open=False)
                raise SoldOut(SOLD_OUT_MESSAGE, await self._on_sale(isbn))
            if await self._change(cart, below_cap, {f"holds.{isbn}": 1, f"adding.{isbn}": -1, "revision": 1}):
                return await self._reload(cart), state
            # Checked out, expired or filled by another add meanwhile: the copy
            # goes back (before `adding` lets go of it, so it is never counted twice).
            await self.inventory.give_back(isbn, 1)
            await self._change(cart, {}, taking_back, only_open=False)
        current = await self.carts.find_one({"_id": cart.id, "status": "open"}, {"copies": 1})
        if current is None:
            # Expired or checked out since the page loaded: start afresh.
            return await self._add(None, user, isbn)
        if current["copies"] >= most:
            raise CartError(f"A cart holds at most {most} copies: check out, or take some out first.",
                            await self.inventory.state(isbn))
        raise CartError(f"A cart holds at most {MAX_PER_TITLE} copies of a title.", await self.inventory.state(isbn))

    async def _on_sale(self, isbn: str) -> dict | None:
        """The book's state; CartError when the title is withdrawn from sale."""
        state, withdrawn = await self.inventory.sale_state(isbn)
        if withdrawn:
            raise CartError(WITHDRAWN_MESSAGE, state)
        return state

    async def remove(self, cart: Cart | None, isbn: str) -> tuple[Cart | None, dict | None]:
        """Take one copy out of the cart and give it back to the shop."""
        if cart is None or not await self._change(cart, {f"holds.{isbn}": {"$gte": 1}},
                                                  {f"holds.{isbn}": -1, "copies": -1, "revision": 1}):
            raise CartError("This book is not in your cart.", await self.inventory.state(isbn))
        state = await self.inventory.give_back(isbn, 1)
        return await self._reload(cart), state

    async def _reload(self, cart: Cart) -> Cart | None:
        doc = await self.carts.find_one({"_id": cart.id, "status": "open"})
        return Cart.from_document(doc) if doc else None

    async def adopt(self, cart_id: str | None, user: dict) -> str | None:
        """At sign-in: the anonymous cart becomes the account's; else the account's latest open cart."""
        if cart_id:
            await self.carts.update_one(
                {"_id": cart_id, "status": "open", "user_id": None}, {"$set": {"user_id": user["_id"]}}
            )
            if await self.find(cart_id, user):
                return cart_id
        latest = await self.carts.find_one(
            {"user_id": user["_id"], "status": "open"}, sort=[("touched_at", pymongo.DESCENDING)]
        )
        return latest["_id"] if latest else None

    async def claim_for_order(self, cart: Cart) -> bool:
        """Close the cart for checkout, unless it changed since it was read."""
        result = await self.carts.update_one(
            {"_id": cart.id, "status": "open", "revision": cart.revision},
            {"$set": {"status": "ordered", "touched_at": utcnow()}},
        )
        return result.modified_count == 1

    async def expire_idle(self, ttl: datetime.timedelta, anonymous_ttl: datetime.timedelta) -> int:
        """Close carts idle for `ttl` (`anonymous_ttl` for a visitor not signed in) and give their
        copies back; returns how many expired.

        A cart that held copies stays, closed, until `forget_closed` (its shopper
        may come back to it); an empty one goes at once.
        """
        now = utcnow()
        idle = {"$or": [{"touched_at": {"$lt": now - ttl}},
                        {"user_id": None, "touched_at": {"$lt": now - anonymous_ttl}}]}
        expired = 0
        idle_ids = [cart["_id"] async for cart in self.db.scan("carts", ("_id",), {"status": "open", **idle})]
        for cart_id in idle_ids:
            # The claim re-checks idleness, so a cart touched meanwhile (or
            # claimed by another process) is left alone.
            claimed = await self.carts.find_one_and_update(
                {"_id": cart_id, "status": "open", **idle},
                {"$set": {"status": "expired", "touched_at": utcnow()}},
            )
            if claimed is None:
                continue
            expired += 1
            holds = Cart.from_document(claimed).holds
            for isbn, copies in holds.items():
                await self.inventory.give_back(isbn, copies)
            if not holds:
                # Nothing to tell its shopper about: an empty cart leaves no trace.
                await self.carts.delete_one({"_id": claimed["_id"], "status": "expired"})
        if expired:
            log.info("expired %d idle carts", expired)
        return expired

    async def forget_closed(self, older_than: datetime.timedelta) -> int:
        """Delete ordered and expired carts closed longer ago than `older_than` (orders keep what matters)."""
        cutoff = utcnow() - older_than
        closed = {"status": {"$in": ["ordered", "expired"]}}
        old = [cart["_id"] async for cart in self.db.scan("carts", ("_id",), {**closed, "touched_at": {"$lt": cutoff}})]
        deleted = 0
        for start in range(0, len(old), FORGET_BATCH):
            # Conditioned again: a cart reopened meanwhile is not forgotten.
            result = await self.carts.delete_many({"_id": {"$in": old[start:start + FORGET_BATCH]}, **closed})
            deleted += result.deleted_count
        return deleted

    async def held_copies(self) -> tuple[dict[str, int], set[str]]:
        """Copies held or being added in open carts per ISBN, and the ISBNs of carts touched within GRACE."""
        held: dict[str, int] = {}
        busy: set[str] = set()
        recent = utcnow() - GRACE
        criteria = {"$or": [{"status": "open"}, {"touched_at": {"$gte": recent}}]}
        async for doc in self.db.scan("carts", ("status", "holds", "adding", "touched_at"), criteria):
            for field in ("holds", "adding"):
                for isbn, copies in doc.get(field, {}).items():
                    if doc["status"] == "open":
                        held[isbn] = held.get(isbn, 0) + copies
                    if doc["touched_at"] >= recent:
                        busy.add(isbn)
        return held, busy
