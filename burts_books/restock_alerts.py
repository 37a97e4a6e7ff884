"""Notify me: a shopper leaves an email on a sold-out title and gets one mail when it is on sale again.

An alert is `{_id: "<isbn> <email>", isbn, email, status, created_at,
sent_at}`, `status` "waiting" until its mail goes, then "sent"; asking again
later re-arms it. Inventory events drive the mail: every process hears every
event on the bus, and for a title with waiting alerts and copies on sale (not
withdrawn: its alerts wait, and restoring it to sale is an event too) each
process claims each alert with one conditional update (waiting → sent). Only
the winner sends, so a shopper gets exactly one mail however many processes
hear the event. Each process keeps in memory the titles that have waiting
alerts (read at start, on each housekeeping run, and as shoppers ask), so an
event about any other title costs nothing. A process that dies between its
claim and handing the mail to the mailer loses that mail: at most once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .accounts import BAD_EMAIL, normalize_email, valid_email
from .catalog_view import BOOK_CHANGED
from .infra.bus import EventBus
from .infra.clock import utcnow
from .infra.db import Database
from .infra.errors import Conflict, NotFound, ValidationError
from .infra.limits import Limits
from .infra.mail import Mail, Mailer
from .inventory import NOT_WITHDRAWN, Inventory

log = logging.getLogger(__name__)

WAITING, SENT = "waiting", "sent"
ON_SALE = {"available": {"$gt": 0}, **NOT_WITHDRAWN}  # a book a shopper can put in a cart now


class OnSale(Conflict):
    """The title has copies on sale now: nothing to wait for."""


class Withdrawn(Conflict):
    """The title is withdrawn from sale: no restock to tell of."""


class RestockAlerts:
    def __init__(self, db: Database, bus: EventBus, inventory: Inventory, limits: Limits, mailer: Mailer):
        self.alerts = db.restock_alerts
        self.books = db.books
        self.bus = bus
        self.inventory = inventory
        self.limits = limits
        self.mailer = mailer
        self._watched: set[str] = set()  # ISBNs with waiting alerts, as far as this process knows
        self._tasks: set[asyncio.Task] = set()
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        """Listen to inventory events, then catch up on alerts whose title came back while no process listened."""
        self._unsubscribe = self.bus.subscribe(self._on_event)
        await self.catch_up()

    async def catch_up(self) -> None:
        """Watch every title with waiting alerts, and mail those already on sale."""
        self._watched |= set(await self.alerts.distinct("isbn", {"status": WAITING}))
        on_sale = self.books.find({"isbn": {"$in": list(self._watched)}, **ON_SALE}, {"_id": 0, "isbn": 1})
        for isbn in [book["isbn"] async for book in on_sale]:
            await self.notify(isbn)

    async def ask(self, isbn: str, email: str, address: str) -> str:
        """Mail `email` once when `isbn` is on sale again; returns the email as stored.

        ValidationError for a bad email, NotFound for no such book, Withdrawn for a title withdrawn from sale,
        OnSale when it has copies now, TooMany past the per-address limit (each ask can end in a mail to any
        address).
        """
        email = normalize_email(email)
        if not valid_email(email):
            raise ValidationError({"email": BAD_EMAIL})
        state, withdrawn = await self.inventory.sale_state(isbn)
        if state is None:
            raise NotFound(f"No book with ISBN {isbn}.")
        if withdrawn:
            raise Withdrawn("Sorry, this book is no longer available: there is no restock to tell you about.")
        if state["available"] > 0:
            raise OnSale("It's on sale now: add it to your cart.")
        await self.limits.hit(self.limits.restock_alerts_per_address, address)
        await self.alerts.update_one(
            {"_id": f"{isbn} {email}"},
            {"$set": {"isbn": isbn, "email": email, "status": WAITING, "created_at": utcnow()},
             "$unset": {"sent_at": ""}},
            upsert=True,
        )
        self._watched.add(isbn)
        # Copies that came back between the check above and the write would have found no alert.
        await self.notify(isbn)
        return email

    def _on_event(self, event: dict) -> None:
        # A catalog change carries no count, and may be the title's return to sale: notify reads both.
        back = event.get("available", 0) > 0 or event.get("kind") == BOOK_CHANGED
        if back and event.get("isbn") in self._watched:
            task = asyncio.ensure_future(self.notify(event["isbn"]))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("restock alerts could not be sent: %s", task.exception())

    async def notify(self, isbn: str) -> int:
        """Mail every waiting alert of this title that this process wins the claim of; returns how many.

        Only while the title is on sale: withdrawn (or sold out again), its alerts stay waiting and watched.
        """
        book = await self.books.find_one({"isbn": isbn, **ON_SALE}, {"isbn": 1, "title": 1, "author": 1})
        if book is None:
            return 0
        self._watched.discard(isbn)
        waiting = [alert["_id"] async for alert in self.alerts.find({"isbn": isbn, "status": WAITING}, {"_id": 1})]
        sent = 0
        for alert_id in waiting:
            claimed = await self.alerts.find_one_and_update(
                {"_id": alert_id, "status": WAITING}, {"$set": {"status": SENT, "sent_at": utcnow()}}
            )
            if claimed is not None:
                self.mailer.send(back_in_stock_mail(claimed["email"], book))
                sent += 1
        return sent

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._tasks:
            await asyncio.wait(self._tasks)


def back_in_stock_mail(email: str, book: dict) -> Mail:
    text = (
        f"Hello,\n\nYou asked us to tell you when {book['title']} by {book['author']} was back.\n"
        f"It is on sale again at Burt's Books (ISBN {book['isbn']}): copies go into carts first come, "
        "first served.\n\nThis is the only mail we send about it.\n"
    )
    return Mail(email, f"Back in stock: {book['title']}", text)
