"""Shopping carts: holds on copies, never more than the shop has.

A cart document is `{_id, status, holds: {isbn: copies}, adding: {isbn:
copies}, copies, revision, user_id, created_at, touched_at}`; `status` goes
from "open" to "ordered", "expired" or "merged" (into the cart a shopper signs
in with), each by one atomic claim, so only one process acts on it. Expiry
moves `holds` to `lapsed` (what the shopper had, to tell them what happened
and offer it again) and stamps `expired_at`; the shopper's next change
reopens the cart, empty but for `lapsed`. `copies` counts holds and adds
under way together, so that one conditional update can keep a cart under its
cap across all titles however many adds race.

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
import functools
import hashlib
import logging
import secrets

import pymongo

from .infra.clock import utcnow
from .infra.db import Database
from .infra.errors import Conflict, Invalid
from .infra.limits import Limits
from .infra.slices import in_slices
from .inventory import Inventory

log = logging.getLogger(__name__)

MAX_PER_TITLE = 10
GRACE = datetime.timedelta(seconds=5)
SOLD_OUT_MESSAGE = "Sorry, this book just sold out."
WITHDRAWN_MESSAGE = "Sorry, this book is no longer available."
LAPSED_MESSAGE = "Your hold on this book expired and its copies went back on sale, so there is nothing to remove."
CHANGED_MESSAGE = "Your cart changed in another window meanwhile: here it is as it is now."
FORGET_BATCH = 200  # closed carts deleted in one write
EXPIRE_BATCH = 100  # idle carts expired with one wait for the disk
CLOSED_CART_RETENTION = datetime.timedelta(days=1)
ENDING_SOON = datetime.timedelta(minutes=5)  # or a quarter of the hold, if shorter
LINE_FIELDS = {"_id": 0, "isbn": 1, "title": 1, "price_cents": 1, "image": 1, "available": 1}


def prices_key(lines: list[dict]) -> str:
    """A short key to the price of each cart line (as `Carts.lines` gives them), for a review to carry
    back at checkout: the cart's revision only moves with what the shopper changes, not with what staff charge."""
    prices = sorted((line["isbn"], line["price_cents"]) for line in lines)
    return hashlib.sha256(repr(prices).encode()).hexdigest()[:16]


class CartError(Conflict):
    """A cart change that was refused; the message is for the shopper. Nothing changed."""

    def __init__(self, message: str, state: dict | None = None):
        super().__init__(message)
        self.state = state  # the book's current state, when the refusal is about a book


class SoldOut(CartError):
    pass


class EmptyCart(Invalid):
    pass


def _positive(counts: dict | None) -> dict[str, int]:
    return {isbn: copies for isbn, copies in (counts or {}).items() if copies > 0}


@dataclasses.dataclass(frozen=True)
class Cart:
    id: str
    holds: dict[str, int]
    revision: int
    user_id: object = None
    status: str = "open"
    lapsed: dict[str, int] = dataclasses.field(default_factory=dict)  # copies whose hold expired
    touched_at: datetime.datetime | None = None
    expired_at: datetime.datetime | None = None
    hold_ends: datetime.datetime | None = None  # when the copies go back on sale unless the shopper acts
    warn_at: datetime.datetime | None = None  # from when pages warn that the hold ends soon

    @classmethod
    def from_document(cls, doc: dict, hold: datetime.timedelta) -> Cart:
        """The cart a document holds, whose copies are held for `hold` after its last change."""
        holds, touched_at = _positive(doc.get("holds")), doc.get("touched_at")
        hold_ends = warn_at = None
        if doc["status"] == "open" and holds and touched_at is not None:
            hold_ends = touched_at + hold
            warn_at = hold_ends - min(ENDING_SOON, hold / 4)
        return cls(doc["_id"], holds, doc["revision"], doc.get("user_id"), doc["status"],
                   _positive(doc.get("lapsed")), touched_at, doc.get("expired_at"), hold_ends, warn_at)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def ending_soon(self) -> bool:
        return self.warn_at is not None and utcnow() >= self.warn_at

    def quantity(self, isbn: str) -> int:
        return self.holds.get(isbn, 0)

    @property
    def fingerprint(self) -> tuple:
        """Everything the cart is and shows, hashable: what a page filled in for it is kept under."""
        return self._fields, self.ending_soon

    @functools.cached_property
    def _fields(self) -> tuple:
        # Once per cart: a kept visitor's cart (visitors.py) serves many requests.
        fields = (getattr(self, name) for name in _CART_FIELDS)
        return tuple(tuple(sorted(value.items())) if isinstance(value, dict) else value for value in fields)

    @property
    def count(self) -> int:
        return sum(self.holds.values())


_CART_FIELDS = tuple(field.name for field in dataclasses.fields(Cart))


def _writes_together(method):
    """A cart change writes several times in a row (an add: cart, cart, book, cart): its writes are
    journaled as they are made and waited for once, together (Database.writes_together)."""
    @functools.wraps(method)
    async def together(self, *args, **kwargs):
        async with self.db.writes_together():
            return await method(self, *args, **kwargs)
    return together


class Carts:
    def __init__(self, db: Database, inventory: Inventory, limits: Limits,
                 ttl: datetime.timedelta, anonymous_ttl: datetime.timedelta):
        self.db = db
        self.carts = db.carts
        self.books = db.books
        self.inventory = inventory
        self.limits = limits
        self.ttl = ttl
        self.anonymous_ttl = anonymous_ttl
        # Copies this process put in carts, and took out again or saw expire (for the metrics).
        self.holds_taken = 0
        self.holds_given_back = 0

    async def find(self, cart_id: str | None, user: dict | None) -> Cart | None:
        """The open or expired cart with this id, if this visitor may see it (an ordered one is gone).

        A cart that belongs to an account is only that account's: signing
        out (or another person signing in on the same browser) hides it.
        """
        if not cart_id:
            return None
        doc = await self.carts.find_one({"_id": cart_id})
        if doc is None or doc["status"] not in ("open", "expired"):
            return None
        if doc.get("user_id") not in (None, user and user["_id"]):
            return None
        return self._cart(doc)

    def _cart(self, doc: dict) -> Cart:
        return Cart.from_document(doc, self.ttl if doc.get("user_id") else self.anonymous_ttl)

    async def lines(self, cart: Cart | None, *, lapsed: bool = False) -> list[dict]:
        """The cart's items (or, with `lapsed`, the ones whose hold expired) with title and price, in title order."""
        counts = (cart.lapsed if lapsed else cart.holds) if cart else {}
        if not counts:
            return []
        books = self.books.find({"isbn": {"$in": list(counts)}}, LINE_FIELDS)
        items = [dict(book, quantity=counts[book["isbn"]]) async for book in books]
        return sorted(items, key=lambda item: (item["title"], item["isbn"]))

    async def contents(self, cart: Cart | None) -> dict:
        """What the cart page and the JSON answers show: items, copies, total, when the hold ends,
        and the lines whose hold expired; and what checkout is placed as reviewed by (`revision`,
        `prices`: see Orders.place)."""
        items = await self.lines(cart)
        return {
            "items": items,
            "count": sum(item["quantity"] for item in items),
            "total_cents": sum(item["quantity"] * item["price_cents"] for item in items),
            "revision": cart.revision if cart else 0,
            "prices": prices_key(items),
            "hold_ends": cart and cart.hold_ends,
            "warn_at": cart and cart.warn_at,
            "lapsed": await self.lines(cart, lapsed=True),
            "expired_at": cart and cart.expired_at,
        }

    async def _new_cart(self, user: dict | None, adding: dict[str, int]) -> Cart:
        """A cart made for its first add, already counting `adding` (copies being added, see _add)."""
        moment = utcnow()
        doc = {
            "_id": secrets.token_urlsafe(18),
            "status": "open",
            "holds": {},
            "adding": adding,
            "copies": sum(adding.values()),
            "revision": 0,
            "user_id": user and user["_id"],
            "created_at": moment,
            "touched_at": moment,
        }
        await self.carts.insert_one(doc)
        return self._cart(doc)

    async def _change(self, cart: Cart, criteria: dict, inc: dict, *, only_open: bool = True,
                      unset: dict | None = None) -> bool:
        filter_ = {"_id": cart.id, "status": "open", **criteria} if only_open else {"_id": cart.id}
        update: dict = {"$inc": inc, "$set": {"touched_at": utcnow()}}
        if unset:
            update["$unset"] = unset
        result = await self.carts.update_one(filter_, update)
        return result.modified_count == 1

    async def _count_adds(self, cart: Cart | None, user: dict | None, address: str, copies: int) -> None:
        """Adds are limited per visitor and per client `address`, and more tightly for visitors not
        signed in, who can start a new cart with every request: TooMany past a limit. Each copy counts."""
        limits = self.limits
        visitor = f"user:{user['_id']}" if user else cart and f"cart:{cart.id}"
        for _ in range(copies):
            await limits.hit(limits.cart_adds_per_address, address)
            if user is None:
                await limits.hit(limits.anonymous_adds_per_address, address)
            if visitor:
                await limits.hit(limits.cart_adds_per_visitor, visitor)

    async def add(self, cart: Cart | None, user: dict | None, isbn: str, address: str) -> tuple[Cart | None, dict]:
        """Put one copy in the cart (a new cart when there is none); returns (cart, book state)."""
        await self._count_adds(cart, user, address, 1)
        return await self._add(await self._reopened(cart, user), user, isbn)

    async def set_quantity(self, cart: Cart | None, user: dict | None, isbn: str, quantity: int,
                           address: str) -> tuple[Cart | None, dict | None]:
        """Hold exactly `quantity` copies of the title, if the cart still holds what the shopper saw.

        Conditioned on the copies the cart held when read, so two windows setting
        the same line can't add up; CartError (nothing changed) when it moved meanwhile,
        when the shop has too few copies, or past a cap.
        """
        if not 0 <= quantity <= MAX_PER_TITLE:
            raise Invalid(f"Choose between 0 and {MAX_PER_TITLE} copies.")
        current = cart.quantity(isbn) if cart else 0
        if quantity < current:
            return await self._take_out(cart, isbn, current - quantity, expect=current)
        if quantity == current:
            return cart, await self.inventory.state(isbn)
        state = await self.inventory.state(isbn)
        if state is not None and state["available"] < quantity - current:
            raise self._too_few(state, quantity - current)  # before any write: a refusal changes nothing
        await self._count_adds(cart, user, address, quantity - current)
        return await self._add(await self._reopened(cart, user), user, isbn, quantity - current, expect=current)

    async def add_again(self, cart: Cart | None, user: dict | None, isbn: str,
                        address: str) -> tuple[Cart | None, dict | None]:
        """Hold again the copies of a title whose hold expired, as many as are still on sale."""
        lapsed = cart.lapsed.get(isbn, 0) if cart else 0
        if not lapsed:
            raise CartError("There is nothing of this book to add again.", await self.inventory.state(isbn))
        state = await self.inventory.state(isbn)
        current = cart.quantity(isbn) if cart and cart.is_open else 0
        copies = min(lapsed, state["available"] if state else 0, MAX_PER_TITLE - current)
        if copies <= 0:
            raise SoldOut(SOLD_OUT_MESSAGE, state)
        await self._count_adds(cart, user, address, copies)
        return await self._add(await self._reopened(cart, user), user, isbn, copies)

    async def forget_lapsed(self, cart: Cart | None) -> Cart | None:
        """The shopper has read what expired: stop telling them."""
        if cart is not None and cart.lapsed:
            await self.carts.update_one({"_id": cart.id}, {"$unset": {"lapsed": ""}})
            return await self._reload(cart)
        return cart

    async def _reopened(self, cart: Cart | None, user: dict | None) -> Cart | None:
        """An expired cart opens again (empty, but still telling what expired) for the shopper's next change."""
        if cart is None or cart.is_open:
            return cart
        await self.carts.update_one(
            {"_id": cart.id, "status": "expired", "revision": cart.revision},
            {"$set": {"status": "open", "touched_at": utcnow()}, "$inc": {"revision": 1}},
        )
        return await self.find(cart.id, user)

    @_writes_together
    async def _add(self, cart: Cart | None, user: dict | None, isbn: str, copies: int = 1,
                   expect: int | None = None) -> tuple[Cart | None, dict]:
        """Take `copies` for the cart; with `expect`, only if the cart holds exactly that many now."""
        most = self.limits.copies_per_cart
        reserved = False  # whether the cart counts the copies as being added already
        if cart is None or not cart.is_open:
            current = await self._on_sale(isbn)
            if current is not None and current["available"] < copies:
                # Nothing to hold: don't open a cart only to refuse it.
                raise self._too_few(current, copies)
            # Made counting the copies when the empty cart has room for them (the first step below):
            # one write fewer for every visitor's first add.
            reserved = not expect and copies <= most
            cart = await self._new_cart(user, {isbn: copies} if reserved else {})
        line_ok: dict
        if expect is None:
            line_ok = {"$or": [{f"holds.{isbn}": {"$exists": False}},
                               {f"holds.{isbn}": {"$lte": MAX_PER_TITLE - copies}}]}
        elif expect:
            line_ok = {f"holds.{isbn}": expect}
        else:
            line_ok = {"$or": [{f"holds.{isbn}": {"$exists": False}}, {f"holds.{isbn}": 0}]}
        room = {**line_ok, "copies": {"$lte": most - copies}}  # every cart counts its copies (migration 0007)
        taking_back = {f"adding.{isbn}": -copies, "copies": -copies}
        if reserved or await self._change(cart, room, {f"adding.{isbn}": copies, "copies": copies}):
            state = await self.inventory.take(isbn, copies)
            if state is None:
                await self._change(cart, {}, taking_back, only_open=False)
                raise self._too_few(await self._on_sale(isbn), copies)
            if await self._change(cart, line_ok, {f"holds.{isbn}": copies, f"adding.{isbn}": -copies, "revision": 1},
                                  unset={f"lapsed.{isbn}": ""}):
                self.holds_taken += copies
                return await self._reload(cart), state
            # Checked out, expired or changed by another add meanwhile: the copies go
            # back (before `adding` lets go of them, so they are never counted twice).
            await self.inventory.give_back(isbn, copies)
            await self._change(cart, {}, taking_back, only_open=False)
        current = await self.carts.find_one({"_id": cart.id, "status": "open"}, {"copies": 1, "holds": 1})
        if current is None and expect is None:
            # Expired or checked out since the page loaded: start afresh.
            return await self._add(None, user, isbn, copies)
        raise await self._refusal(current, isbn, copies, expect)

    async def _refusal(self, current: dict | None, isbn: str, copies: int, expect: int | None) -> CartError:
        """Why `copies` more did not fit in the cart (`current`: its document now, None if closed)."""
        state = await self.inventory.state(isbn)
        most = self.limits.copies_per_cart
        if current is None or (expect is not None and current.get("holds", {}).get(isbn, 0) != expect):
            return CartError(CHANGED_MESSAGE, state)
        if current["copies"] > most - copies:
            return CartError(f"A cart holds at most {most} copies: check out, or take some out first.", state)
        return CartError(f"A cart holds at most {MAX_PER_TITLE} copies of a title.", state)

    @staticmethod
    def _too_few(state: dict | None, copies: int) -> CartError:
        available = state["available"] if state else 0
        if available <= 0:
            return SoldOut(SOLD_OUT_MESSAGE, state)
        more = "one more copy is" if available == 1 else f"{available} more copies are"
        return CartError(f"Sorry, only {more} on sale: choose fewer.", state)

    async def _on_sale(self, isbn: str) -> dict | None:
        """The book's state; CartError when the title is withdrawn from sale."""
        state, withdrawn = await self.inventory.sale_state(isbn)
        if withdrawn:
            raise CartError(WITHDRAWN_MESSAGE, state)
        return state

    async def remove(self, cart: Cart | None, isbn: str) -> tuple[Cart | None, dict | None]:
        """Take one copy out of the cart and give it back to the shop."""
        return await self._take_out(cart, isbn, 1)

    @_writes_together
    async def _take_out(self, cart: Cart | None, isbn: str, copies: int,
                        expect: int | None = None) -> tuple[Cart | None, dict | None]:
        held = {f"holds.{isbn}": {"$gte": copies} if expect is None else expect}
        if cart is None or not await self._change(cart, held, {f"holds.{isbn}": -copies, "copies": -copies,
                                                               "revision": 1}):
            state = await self.inventory.state(isbn)
            if cart is not None and isbn in cart.lapsed and not cart.quantity(isbn):
                # The page still showed the copies: say what happened to them rather than "not in your cart".
                raise CartError(LAPSED_MESSAGE, state)
            if cart is not None and expect is not None:
                raise CartError(CHANGED_MESSAGE, state)
            raise CartError("This book is not in your cart.", state)
        state = await self.inventory.give_back(isbn, copies)
        self.holds_given_back += copies
        return await self._reload(cart), state

    async def _reload(self, cart: Cart) -> Cart | None:
        doc = await self.carts.find_one({"_id": cart.id, "status": {"$in": ["open", "expired"]}})
        return self._cart(doc) if doc else None

    async def adopt(self, cart_id: str | None, user: dict) -> str | None:
        """At sign-in: the anonymous cart becomes the account's (lapsed too: reopened, it is theirs), with
        the copies of the account's other open carts folded in; else the account's latest open cart."""
        if cart_id:
            adopted = await self.carts.update_one(
                {"_id": cart_id, "status": {"$in": ["open", "expired"]}, "user_id": None},
                {"$set": {"user_id": user["_id"]}},
            )
            if adopted.modified_count:
                await self._fold_into(cart_id, user)
        found = await self.find(cart_id, user)
        if found is not None and found.is_open:
            return found.id
        latest = await self.carts.find_one(
            {"user_id": user["_id"], "status": "open"}, sort=[("touched_at", pymongo.DESCENDING)]
        )
        # Else the expired cart, still telling what it held.
        if latest is not None:
            return latest["_id"]
        return found.id if found is not None else None

    async def _fold_into(self, cart_id: str, user: dict) -> None:
        """The copies the account's older open carts hold go into the open cart adopted at sign-in, as
        far as its limits allow, the rest back on sale: else they stay held, out of the shopper's sight.

        Older only: two browsers signing in at once each adopt their own cart, and of the two the
        newer takes the older in, never each the other (which would leave neither)."""
        adopted = await self.carts.find_one({"_id": cart_id, "status": "open"}, {"touched_at": 1})
        if adopted is None:
            return  # lapsed: the account's open cart, if any, is the one the shopper goes on with
        others = self.carts.find({"user_id": user["_id"], "status": "open", "_id": {"$ne": cart_id}})
        for other in await others.to_list(None):
            if (other["touched_at"], other["_id"]) > (adopted["touched_at"], cart_id):
                continue
            # Claimed first: expiring it meanwhile must not give its copies back a second time.
            claimed = await self.carts.update_one(
                {"_id": other["_id"], "status": "open", "revision": other["revision"]},
                {"$set": {"status": "merged", "touched_at": utcnow()}})
            if not claimed.modified_count:
                continue
            for isbn, copies in _positive(other.get("holds")).items():
                moved = await self._move_hold(cart_id, isbn, copies)
                if moved < copies:
                    await self.inventory.give_back(isbn, copies - moved)

    async def _move_hold(self, cart_id: str, isbn: str, copies: int) -> int:
        """Put copies already held into the cart, as many as fit in it; returns how many."""
        while True:
            cart = await self.carts.find_one({"_id": cart_id, "status": "open"})
            if cart is None:
                return 0
            fits = min(copies, MAX_PER_TITLE - cart.get("holds", {}).get(isbn, 0),
                       self.limits.copies_per_cart - cart.get("copies", 0))
            if fits <= 0:
                return 0
            moved = await self.carts.update_one(
                {"_id": cart_id, "status": "open", "revision": cart["revision"], "copies": cart.get("copies", 0)},
                {"$inc": {f"holds.{isbn}": fits, "copies": fits, "revision": 1}, "$set": {"touched_at": utcnow()}})
            if moved.modified_count:
                return fits

    async def claim_for_order(self, cart: Cart) -> bool:
        """Close the cart for checkout, unless it changed since it was read."""
        result = await self.carts.update_one(
            {"_id": cart.id, "status": "open", "revision": cart.revision},
            {"$set": {"status": "ordered", "touched_at": utcnow()}},
        )
        return result.modified_count == 1

    async def closed_for_order_since(self, cart_id: str, moment: datetime.datetime) -> bool:
        """Whether the cart `cart_id` was closed for checkout at `moment` or later (`claim_for_order`)."""
        found = await self.carts.find_one({"_id": cart_id, "status": "ordered", "touched_at": {"$gte": moment}})
        return found is not None

    async def expire_idle(self, ttl: datetime.timedelta, anonymous_ttl: datetime.timedelta) -> int:
        """Close carts idle for `ttl` (`anonymous_ttl` for a visitor not signed in) and give their
        copies back; returns how many expired.

        A cart that held copies stays, closed, until `forget_closed` (its shopper
        may come back to it); an empty one goes at once.
        """
        now = utcnow()
        # Each TTL for its own kind of cart, whichever is longer (`$ne: None` is exactly the carts that
        # `user_id: None` leaves out). Each clause bounds `touched_at`: a server answers both from the
        # (status, touched_at) index.
        idle = {"$or": [{"touched_at": {"$lt": now - ttl}, "user_id": {"$ne": None}},
                        {"touched_at": {"$lt": now - anonymous_ttl}, "user_id": None}]}
        expired = 0
        idle_carts = [cart async for cart in self.db.scan("carts", ("_id", "holds", "revision"),
                                                           {"status": "open", **idle})]
        for start in range(0, len(idle_carts), EXPIRE_BATCH):
            # A batch's writes wait for the disk once: one by one, 10,000 carts idle at once (a shop
            # back after a quarter of an hour) took 50 s of fdatasyncs in a row, under load.
            async with self.db.writes_together():
                async for cart in in_slices(idle_carts[start:start + EXPIRE_BATCH]):
                    expired += await self._expire(cart, idle)
        if expired:
            log.info("expired %d idle carts", expired)
        return expired

    async def _expire(self, cart: dict, idle: dict) -> int:
        """1 if this process expired the cart, 0 if it was touched or claimed meanwhile."""
        # The claim re-checks idleness and the revision, so a cart touched meanwhile (or
        # claimed by another process) is left alone, and `copies` drops by exactly what it held.
        # Its holds become `lapsed`, for the page to tell its shopper what happened.
        moment = utcnow()
        claimed = await self.carts.find_one_and_update(
            {"_id": cart["_id"], "status": "open", "revision": cart["revision"], **idle},
            {"$set": {"status": "expired", "touched_at": moment, "expired_at": moment},
             "$rename": {"holds": "lapsed"}, "$inc": {"copies": -sum(_positive(cart.get("holds")).values())}},
        )
        if claimed is None:
            return 0
        holds = _positive(claimed.get("holds"))
        for isbn, copies in holds.items():
            await self.inventory.give_back(isbn, copies)
            self.holds_given_back += copies
        if not holds:
            # Nothing to tell its shopper about: an empty cart leaves no trace.
            await self.carts.delete_one({"_id": claimed["_id"], "status": "expired"})
        return 1

    async def forget_closed(self, older_than: datetime.timedelta) -> int:
        """Delete ordered, expired and merged carts closed longer ago than `older_than` (orders keep what matters)."""
        cutoff = utcnow() - older_than
        closed = {"status": {"$in": ["ordered", "expired", "merged"]}}
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
        async for doc in self.db.scan("carts", ("status", "holds", "adding", "lapsed", "touched_at"), criteria):
            # `lapsed` of a cart expiring right now: its copies may be on their way back.
            for field in ("holds", "adding", "lapsed"):
                for isbn, copies in doc.get(field, {}).items():
                    if doc["status"] == "open" and field != "lapsed":
                        held[isbn] = held.get(isbn, 0) + copies
                    if doc["touched_at"] >= recent:
                        busy.add(isbn)
        return held, busy
