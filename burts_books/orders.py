"""Click-and-collect orders: a cart becomes an order the shopper collects, and pays for, at the shop.

An order is `{_id, number, seq, user_id, name, email, phone, note, cart_id,
lines, total_cents, status, payment, pickup_code, created_at, history,
keywords}`. `number` is short and human (`BB-10427`), from one counter
document whose value is `seq` (staff list orders by it, pages through it
and follows new ones by it); `keywords` are the words staff search by
(number, name, email); `pickup_code` is
six random digits the shopper shows at the counter. `status` goes placed →
ready_for_pickup → collected, or to cancelled before collection; each step
is one update conditioned on the status it leaves, which also appends who
did it and when to `history`, so two people acting at once can't both
succeed and no step goes unrecorded. `payment` says how the order is paid:
`pay_at_pickup` now; an online provider later fills the same sub-document.

Placing refuses prices other than the ones the shopper reviewed, then claims
the cart (one atomic update, conditioned on the revision the shopper
reviewed), then takes the copies out of stock, then writes the order. A
crash part-way can lose an order record but never sells a copy twice.
Cancelling claims the order first, then puts its copies back on sale through
the inventory service (every open page sees them); a crash in between leaves
copies off sale, never sold twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import re
import secrets

import pymongo
from pymongo import ReturnDocument

from . import history
from .accounts import BAD_EMAIL, known_as, normalize_email, valid_email
from .carts import Cart, CartError, Carts, EmptyCart, prices_key
from .catalog import price_text, words
from .infra.bus import EventBus
from .infra.clock import utcnow
from .infra.db import Database
from .infra.errors import Conflict, Invalid, NotFound, ValidationError
from .infra.mail import Mail, Mailer
from .infra.paging import Paged
from .inventory import Inventory, copies_text

log = logging.getLogger(__name__)

HISTORY_LIMIT = 100
REPEAT_WINDOW = datetime.timedelta(minutes=10)
NUMBER_PREFIX = "BB-"
FIRST_NUMBER = 10001
NUMBER_COUNTER = "order_number"
NUMBER_PATTERN = r"BB-[0-9]{5,9}"
PICKUP_CODE_DIGITS = 6
SHOP_ADDRESS = "Burt's Books, 12 Bookseller Lane, Springfield"
# A second click may ask while the first is still writing its order: wait this long for it.
JUST_PLACED_WAIT = datetime.timedelta(seconds=2)
JUST_PLACED_STEP = 0.05

PLACED, READY, COLLECTED, CANCELLED = "placed", "ready_for_pickup", "collected", "cancelled"
STATUS_LABELS = {PLACED: "Placed", READY: "Ready for pickup", COLLECTED: "Collected", CANCELLED: "Cancelled"}
ORDER_EVENT = "order"  # the bus event `kind` saying an order was placed or changed status
STAFF_PAGE_SIZE = 25
WRITTEN_COUNTER = "orders_written"  # the highest `seq` of an order written so far
LISTED = {"history": 0, "keywords": 0}  # what the staff list does not show

MAX_NAME = 100
MAX_NOTE = 500
_PHONE = re.compile(r"\+?[0-9 ().-]+")
PHONE_DIGITS = (7, 15)  # E.164 allows at most 15
REVIEW_AGAIN = "Your cart changed since you reviewed it: check it below and place the order again."
PRICES_CHANGED = "A price changed since you reviewed your order: check the new total below and place the order again."


class OrderStateError(Conflict):
    """The order is not in a status that allows this step; nothing changed."""


@dataclasses.dataclass(frozen=True)
class Contact:
    """Who collects the order, and how the shop reaches them."""

    name: str
    email: str
    phone: str = ""
    note: str = ""


CONTACT_FIELDS = tuple(field.name for field in dataclasses.fields(Contact))


@dataclasses.dataclass(frozen=True)
class Placed:
    """What placing a cart came to: the order, and whether this call made it (not an earlier
    click or request that placed the same cart moments ago)."""

    order: dict
    new: bool


def check_contact(name: str, email: str, phone: str = "", note: str = "") -> Contact:
    """The contact as stored; ValidationError says what is wrong with each field."""
    name, phone, note = (name or "").strip(), (phone or "").strip(), (note or "").strip()
    email = normalize_email(email)
    errors = {}
    if not name:
        errors["name"] = "Tell us your name: we ask for it at the counter."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."
    if not valid_email(email):
        errors["email"] = BAD_EMAIL
    digits = sum(char.isdigit() for char in phone)
    if phone and (not _PHONE.fullmatch(phone) or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]):
        errors["phone"] = "Give a phone number like 555 555 5555 or +1 555 555 5555, or leave it empty."
    if len(note) > MAX_NOTE:
        errors["note"] = f"Keep the note under {MAX_NOTE} characters."
    if errors:
        raise ValidationError(errors)
    return Contact(name, email, phone, note)


def pickup_code() -> str:
    return f"{secrets.randbelow(10 ** PICKUP_CODE_DIGITS):0{PICKUP_CODE_DIGITS}d}"


def keywords_for(order: dict) -> list[str]:
    """The words staff find an order by: its number's, the contact's name's and email's."""
    return sorted({*words(order["number"]), *words(order.get("name", "")), *words(order.get("email", ""))})


def search_criteria(status: str = "", text: str = "") -> dict:
    """The staff list's query: orders in `status` (any when empty) that have every word of `text` among their
    keywords. Whole words, so both MongoDB and the embedded store answer from the keywords index."""
    if status and status not in STATUS_LABELS:
        raise Invalid("Choose a status from the list.")
    criteria: dict = {"status": status} if status else {}
    terms = words(text)
    if terms:
        criteria["$and"] = [{"keywords": term} for term in terms]
    return criteria


def order_line(line: dict) -> dict:
    """What an order keeps of a cart line: the price it was sold at, whatever the book costs later."""
    return {key: line[key] for key in ("isbn", "title", "price_cents", "quantity")}


class Orders:
    def __init__(self, db: Database, bus: EventBus, carts: Carts, inventory: Inventory, mailer: Mailer,
                 changes: history.History):
        self.orders = db.orders
        self.changes = changes
        self.counters = db.counters
        self.bus = bus
        self.carts = carts
        self.inventory = inventory
        self.mailer = mailer

    async def last_seq(self) -> int:
        """The `seq` of the newest order begun (written, or being written, or lost to a crash); 0 before any."""
        counter = await self.counters.find_one({"_id": NUMBER_COUNTER})
        return counter["value"] if counter else 0

    async def next_seq(self) -> int:
        """A new order's place in the sequence: one atomic increment, so no two orders share one in any process."""
        counter = await self.counters.find_one_and_update(
            {"_id": NUMBER_COUNTER}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return counter["value"]

    async def _announce(self, order: dict) -> None:
        """Tell every process's staff pages that this order is new or changed."""
        await self.bus.publish({"kind": ORDER_EVENT, "number": order["number"], "status": order["status"]})

    async def contact_for(self, user: dict) -> Contact:
        """What the checkout form starts with: the shopper's last order's contact, else their account's email."""
        last = await self.orders.find_one({"user_id": user["_id"]}, sort=[("created_at", pymongo.DESCENDING)])
        # An account made by social sign-in may have no email.
        if last is None:
            return Contact("", user.get("email") or "")
        return Contact(last.get("name", ""), last.get("email", ""), last.get("phone", ""))

    async def place(self, cart: Cart | None, user: dict, contact: Contact,
                    reviewed_revision: int | None = None, cart_id: str | None = None,
                    reviewed_prices: str | None = None) -> Placed:
        """Turn the shopper's cart into an order, as reviewed; EmptyCart, or CartError when it changed.

        `reviewed_prices` is the review's `prices_key`: when a price changed since, the order is not
        placed at a total the shopper never saw (CartError, nothing changed).

        `cart_id` names the cart the browser last had: when that cart became
        this shopper's order moments ago (a second click on Place order), that
        order is the answer rather than an error, and no second order is made.
        """
        if cart is None or not cart.is_open or not cart.holds:
            just_placed = await self._just_placed(cart_id, user)
            if just_placed is None:
                raise EmptyCart("Your cart is empty: add a book before checking out.")
            return Placed(just_placed, new=False)
        if reviewed_revision is not None and reviewed_revision != cart.revision:
            raise CartError(REVIEW_AGAIN)
        lines = await self.carts.lines(cart)
        # The order keeps these lines' prices, so they are the ones that must match the review.
        if reviewed_prices is not None and reviewed_prices != prices_key(lines):
            raise CartError(PRICES_CHANGED)
        if not await self.carts.claim_for_order(cart):
            just_placed = await self._just_placed(cart.id, user)  # ordered by a click that came first?
            if just_placed is None:
                raise CartError(REVIEW_AGAIN)
            return Placed(just_placed, new=False)

        # Numbered before the copies leave stock, so their history names the order.
        seq = await self.next_seq()
        number = f"{NUMBER_PREFIX}{FIRST_NUMBER - 1 + seq}"
        shipped = []
        for line in lines:
            if await self.inventory.ship(line["isbn"], line["quantity"], contact.email, number):
                shipped.append(order_line(line))
            else:
                # Only after a crash broke the stock invariant; never sell what isn't there.
                log.error("order from cart %s: %d x %s no longer in stock",
                          cart.id, line["quantity"], line["isbn"])
        moment = utcnow()
        order = {
            "number": number,
            "seq": seq,
            "user_id": user["_id"],
            **dataclasses.asdict(contact),
            "cart_id": cart.id,
            "lines": shipped,
            "total_cents": sum(line["price_cents"] * line["quantity"] for line in shipped),
            "status": PLACED,
            "payment": {"method": "pay_at_pickup", "status": "due"},
            "pickup_code": pickup_code(),
            "created_at": moment,
            "history": [{"status": PLACED, "at": moment, "by": contact.email}],
        }
        order["keywords"] = keywords_for(order)
        result = await self.orders.insert_one(order)
        order["_id"] = result.inserted_id
        await self.counters.update_one({"_id": WRITTEN_COUNTER}, {"$max": {"value": seq}}, upsert=True)
        self.mailer.send(confirmation_mail(order))
        await self._announce(order)
        return Placed(order, new=True)

    async def _just_placed(self, cart_id: str | None, user: dict) -> dict | None:
        """The order cart `cart_id` became moments ago (a second click, a client's retry); when the
        cart was closed for checkout just now, by a request still writing its order, once it is written."""
        if not cart_id:
            return None
        order = await self._order_from(cart_id, user)
        if order is not None or not await self.carts.closed_for_order_since(cart_id, utcnow() - JUST_PLACED_WAIT):
            return order
        loop = asyncio.get_running_loop()
        deadline = loop.time() + JUST_PLACED_WAIT.total_seconds()
        while order is None and loop.time() < deadline:
            await asyncio.sleep(JUST_PLACED_STEP)
            order = await self._order_from(cart_id, user)
        return order

    async def _order_from(self, cart_id: str, user: dict) -> dict | None:
        return await self.orders.find_one(
            {"cart_id": cart_id, "user_id": user["_id"], "created_at": {"$gte": utcnow() - REPEAT_WINDOW}}
        )

    async def get(self, number: str, user: dict) -> dict:
        """The user's order with this number; NotFound for anyone else's or an unknown number."""
        order = await self.orders.find_one({"number": number, "user_id": user["_id"]})
        if order is None:
            raise NotFound("You have no order with this number.")
        return order

    async def by_number(self, number: str) -> dict:
        """Any order, for staff; NotFound when there is none with this number."""
        order = await self.orders.find_one({"number": number})
        if order is None:
            raise NotFound(f"There is no order {number}.")
        return order

    async def history(self, user: dict) -> list[dict]:
        cursor = self.orders.find({"user_id": user["_id"]}).sort(
            [("created_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)]
        )
        return await cursor.limit(HISTORY_LIMIT).to_list(HISTORY_LIMIT)

    async def find(self, status: str = "", text: str = "", page: int = 1, size: int = STAFF_PAGE_SIZE) -> Paged:
        """Every shopper's orders for staff, newest (highest number) first: in `status` if given, with every
        word of `text` (number, name or email) if given. Invalid for an unknown status.

        Unfiltered, page p holds the p-th run of `size` numbers down from the last one begun, looked up by
        equality: no engine sorts the whole collection for it. (A number lost to a crash leaves its page one short.)
        """
        criteria = search_criteria(status, text)
        if not criteria:
            last = await self.last_seq()
            window = list(range(last - (page - 1) * size, max(0, last - page * size), -1))
            cursor = self.orders.find({"seq": {"$in": window}}, LISTED).sort("seq", pymongo.DESCENDING)
            found = await cursor.to_list(size)
            return Paged(found, last, page, size)
        cursor = self.orders.find(criteria, LISTED).sort("seq", pymongo.DESCENDING)
        found = await cursor.skip((page - 1) * size).limit(size).to_list(size)
        return Paged(found, await self.orders.count_documents(criteria), page, size)

    async def newest_seq(self) -> int:
        """The highest `seq` of the orders written (0 before the first): the live staff list's cursor."""
        counter = await self.counters.find_one({"_id": WRITTEN_COUNTER})
        return counter["value"] if counter else 0

    # -- what staff do (issue 12 builds its pages on these) ---------------

    async def _move(self, order: dict, allowed: tuple[str, ...], status: str, by: dict,
                    criteria: dict | None = None, payment: str | None = None) -> dict | None:
        """One conditional update from one of `allowed` to `status`, recorded in the order's own `history` and,
        in the same update, in the shop's change history (history.py); None if refused."""
        who = known_as(by)
        step = history.entry(status, who, order=order["number"])
        changes = {"status": status, "updated_at": step["at"]}
        if payment:
            changes["payment.status"] = payment
        moved = await self.orders.find_one_and_update(
            {"number": order["number"], "status": {"$in": list(allowed)}, **(criteria or {})},
            history.recording({"$set": changes, "$push": {"history": {"status": status, "at": step["at"], "by": who}}},
                              [step]),
            return_document=ReturnDocument.AFTER,
        )
        if moved is not None:
            await self.changes.drain("orders", {"_id": moved["_id"]})
            await self._announce(moved)
        return moved

    async def _refusal(self, order: dict, step: str) -> OrderStateError:
        current = await self.by_number(order["number"])
        label = STATUS_LABELS.get(current["status"], current["status"]).lower()
        return OrderStateError(f"Order {order['number']} is {label}: it can't be {step}.")

    async def mark_ready(self, order: dict, by: dict) -> dict:
        """The books are set aside at the counter; the shopper is told by mail."""
        moved = await self._move(order, (PLACED,), READY, by)
        if moved is None:
            raise await self._refusal(order, "marked ready for pickup")
        self.mailer.send(Mail(moved["email"], f"Your order {moved['number']} is ready for pickup",
                              ready_text(moved)))
        return moved

    async def mark_collected(self, order: dict, code: str, by: dict) -> dict:
        """The shopper showed the pickup code and paid; a wrong code changes nothing."""
        moved = await self._move(order, (READY,), COLLECTED, by, {"pickup_code": (code or "").strip()}, "paid")
        if moved is not None:
            return moved
        current = await self.by_number(order["number"])
        if current["status"] == READY:
            raise Invalid("That pickup code is not this order's: ask the shopper for the code in their mail.")
        raise await self._refusal(order, "collected")

    async def cancel(self, order: dict, by: dict) -> dict:
        """Call the order off before collection: its copies go back on sale, and the shopper is told."""
        moved = await self._move(order, (PLACED, READY), CANCELLED, by, payment="void")
        if moved is None:
            raise await self._refusal(order, "cancelled")
        for line in moved["lines"]:
            if await self.inventory.cancel_sale(line["isbn"], line["quantity"], known_as(by), moved["number"]) is None:
                log.error("cancelled order %s: could not put back %d x %s",
                          moved["number"], line["quantity"], line["isbn"])
        self.mailer.send(Mail(moved["email"], f"Your order {moved['number']} was cancelled", cancelled_text(moved)))
        return moved


def _money(cents: int) -> str:
    return "$" + price_text(cents)


def lines_text(order: dict, due: str = ", to pay when you collect") -> str:
    lines = [f"  {copies_text(line['quantity'])} of {line['title']}: {_money(line['price_cents'] * line['quantity'])}"
             for line in order["lines"]]
    return "\n".join([*lines, f"  Total: {_money(order['total_cents'])}{due}"])


def confirmation_mail(order: dict) -> Mail:
    text = (
        f"Hello {order['name']},\n\n"
        f"Thank you for your order {order['number']} at Burt's Books.\n\n"
        f"{lines_text(order)}\n\n"
        f"Your pickup code is {order['pickup_code']}: show it at the counter when you collect.\n"
        f"We will write again when your books are ready at {SHOP_ADDRESS}.\n"
    )
    return Mail(order["email"], f"Your order {order['number']} at Burt's Books", text)


def ready_text(order: dict) -> str:
    return (
        f"Hello {order['name']},\n\nYour order {order['number']} is ready for pickup at {SHOP_ADDRESS}.\n\n"
        f"{lines_text(order)}\n\nBring your pickup code: {order['pickup_code']}.\n"
    )


def cancelled_text(order: dict) -> str:
    return (
        f"Hello {order['name']},\n\nYour order {order['number']} was cancelled; nothing is due.\n\n"
        f"{lines_text(order, due='')}\n\nAsk us at {SHOP_ADDRESS} if this is a surprise.\n"
    )
