"""Change history: who changed what about a book, and when, written with the change itself.

MongoDB gives no multi-document transactions we may use (and the embedded
store none at all), so an entry can't be written to a `history` collection
in the same operation as the change it describes. Instead:

1. Every write that changes a book carries its entries in the same
   single-document update: `$push` onto the book's `history_pending` array
   (`recording()` below), beside the `$set`/`$inc` of the change. The change
   and its entries land together or not at all; a refused (unmatched)
   update leaves neither.
2. Right after the write, `drain()` copies the book's pending entries into
   the `history` collection (each keeps the `_id` it was born with, so a
   copy made twice is one entry) and then removes exactly those from the
   book (the whole field when no other was added meanwhile). A crash
   between the two steps leaves the entries pending; the housekeeping run
   (`drain_all`, every reconcile interval) finishes the job. An entry is
   never lost; at worst it shows a minute late on the history page.

What is recorded (`kind`), each with `who` (an email, or SHOP for the
shop's own work), `at` and the `isbn` of the book it is about:

- "added", "edit" (one entry per changed `field`, `old` -> `new`),
  "withdrawn", "restored" (a new cover is an edit of `image`);
- stock movements, with `copies` the signed change of copies on hand:
  "restock", "stock" (the edit form's number, with `old` -> `new`), "sale"
  (checkout), "cancellation" (an order's copies back on sale);
- "reconciliation": `available` repaired after a crash (`old` -> `new`);
  stock on hand is untouched, but staff should see that it happened;
- "role": an owner granted or revoked the staff role of `account` (no ISBN;
  written on the user's document, like book entries on the book's);
- "ready_for_pickup", "collected", "cancelled": a staff member moved the
  `order` (its number; no ISBN) on, written on the order's document.

Copies held in carts and given back (add, remove, cart expiry) are not
recorded: they don't move stock on hand, only `available`, and the carts
themselves are their record. Recording them would bury the history under
every shopper's clicks.

Other code records its own changes the same way: build entries with
`entry()`, add them to its update with `recording()`, then `drain()` the
collection it wrote, and add that collection to DRAINED so housekeeping
finishes what a crash interrupts. An order action (ready, collected,
cancelled) is an entry with `order=` naming the order and no ISBN; the
copies a cancellation puts back go through Inventory.cancel_sale, which
records the movement on each book.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pymongo
from bson import ObjectId
from pymongo.errors import BulkWriteError

from .infra.clock import utcnow
from .infra.db import Database
from .infra.paging import Paged

PENDING = "history_pending"
DRAINED = ("books", "users", "orders")  # the collections whose documents carry pending entries
SHOP = "the shop"  # `who` for the shop's own work (reconciliation)
KINDS = ("added", "edit", "withdrawn", "restored", "restock", "stock", "sale", "cancellation",
         "reconciliation", "role", "ready_for_pickup", "collected", "cancelled")
MOVEMENTS = ("restock", "stock", "sale", "cancellation")
PAGE_SIZE = 50
DUPLICATE_KEY = 11000
_HAS_PENDING = {f"{PENDING}._id": {"$exists": True}}
DRAIN_BATCH = 500  # documents whose entries move in one insert


def entry(kind: str, who: str, isbn: str | None = None, **details) -> dict:
    """One history entry, about a book (`isbn`) or not (an order's action); `details` are what this kind
    records (field, old, new, copies, order)."""
    about = {"isbn": isbn} if isbn else {}
    return {"_id": ObjectId(), "at": utcnow(), "kind": kind, "who": who, **about, **details}


def recording(update: dict, entries: Iterable[dict]) -> dict:
    """`update` that also keeps `entries` on the document it changes, to be drained into the history."""
    entries = list(entries)
    if not entries:
        return update
    return {**update, "$push": {**update.get("$push", {}), PENDING: {"$each": entries}}}


@dataclasses.dataclass(frozen=True)
class Filters:
    isbn: str = ""
    kind: str = ""
    who: str = ""
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None  # exclusive

    def query(self) -> dict:
        criteria: dict = {}
        if self.isbn:
            criteria["isbn"] = self.isbn
        if self.kind:
            criteria["kind"] = self.kind
        if self.who:
            # As typed ("import of NewPrices.csv by ..."), or in lower case: emails are kept so.
            criteria["who"] = {"$in": sorted({self.who, self.who.lower()})}
        moment = {}
        if self.since:
            moment["$gte"] = self.since
        if self.until:
            moment["$lt"] = self.until
        if moment:
            criteria["at"] = moment
        return criteria


class History:
    def __init__(self, db: Database):
        self.db = db
        self.entries = db.history

    async def drain(self, collection: str, criteria: dict) -> int:
        """Move the pending entries of the documents matching `criteria` into the history; how many moved."""
        found = self.db.db[collection].find({**criteria, **_HAS_PENDING}, {PENDING: 1})
        return await self._drain(collection, found)

    async def _drain(self, collection: str, found: AsyncIterator[dict]) -> int:
        documents = self.db.db[collection]
        moved, batch = 0, []
        # One insert a batch and one wait for the disk in all, not one per document: an import drains thousands.
        async with self.db.writes_together():
            async for document in found:
                batch.append(document)
                if len(batch) == DRAIN_BATCH:
                    moved += await self._move(documents, batch)
                    batch = []
            if batch:
                moved += await self._move(documents, batch)
        return moved

    async def _move(self, documents: Any, batch: list[dict]) -> int:
        entries = [entry for document in batch for entry in document[PENDING]]
        try:
            await self.entries.insert_many(entries, ordered=False)
        except BulkWriteError as exc:
            # Copied already by a run that crashed before its $pull, or by another process.
            if any(error["code"] != DUPLICATE_KEY for error in exc.details["writeErrors"]):
                raise
        for document in batch:
            # Usually nothing was added meanwhile: the field goes, leaving the document as it was.
            emptied = await documents.update_one({"_id": document["_id"], PENDING: document[PENDING]},
                                                 {"$unset": {PENDING: ""}})
            if not emptied.modified_count:  # more were added: take out just what moved
                await documents.update_one({"_id": document["_id"]}, {"$pull": {PENDING: {"_id": {
                    "$in": [entry["_id"] for entry in document[PENDING]]}}}})
        return len(entries)

    async def drain_books(self, isbns: Iterable[str]) -> None:
        isbns = list(isbns)
        if isbns:
            await self.drain("books", {"isbn": {"$in": isbns}})

    async def drain_all(self) -> int:
        """What a crash left pending, everywhere (housekeeping). A scan, not a query: nothing indexes
        the few documents with entries pending, and the embedded store would test every one of
        them in one go (190 ms at 20,000 books, every request waiting)."""
        return sum([await self._drain(collection, self.db.scan(collection, ("_id", PENDING), _HAS_PENDING))
                    for collection in DRAINED])

    async def find(self, filters: Filters, page: int = 1, size: int = PAGE_SIZE) -> Paged:
        """Entries matching `filters`, newest first."""
        criteria = filters.query()
        cursor = self.entries.find(criteria).sort([("at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)])
        entries = await cursor.skip((page - 1) * size).limit(size).to_list(size)
        return Paged(entries, await self.entries.count_documents(criteria), page, size)

    async def for_book(self, isbn: str, limit: int = PAGE_SIZE) -> Paged:
        await self.drain_books([isbn])  # what this book's last change left pending shows at once
        return await self.find(Filters(isbn=isbn), 1, limit)

    async def sold_since(self, isbns: list[str], since: datetime.datetime) -> dict[str, int]:
        """Copies sold per ISBN since `since`, less those of these sales cancelled since: an order placed
        before `since` and cancelled after takes nothing from what this time sold."""
        totals: dict[str, int] = dict.fromkeys(isbns, 0)
        cursor = self.entries.aggregate([
            {"$match": {"isbn": {"$in": isbns}, "kind": {"$in": ["sale", "cancellation"]}, "at": {"$gte": since}}},
            {"$group": {"_id": {"isbn": "$isbn", "order": "$order", "kind": "$kind"}, "copies": {"$sum": "$copies"}}},
        ])
        groups = [(row["_id"], row["copies"]) async for row in cursor]
        sold_then = {(key["isbn"], key.get("order")) for key, _ in groups if key["kind"] == "sale"}
        for key, copies in groups:
            if key["kind"] == "sale" or (key["isbn"], key.get("order")) in sold_then:
                totals[key["isbn"]] -= copies  # a sale's copies are recorded as negative, a cancellation's not
        return totals
