"""Stock at a glance, for staff: titles on sale by what needs attention first.

Sold out (nothing available), then low (fewer available than the threshold),
then the rest, each in title order. Each band is one indexed query
(`available`, `title`), so a page costs a few small reads however large the
catalog. Held in carts is `stock - available` (the inventory invariant);
sold in the last 30 days comes from the history's sale entries.
"""

from __future__ import annotations

import dataclasses
import datetime

import pymongo

from .history import History
from .infra.clock import utcnow
from .infra.db import Database
from .infra.errors import NotFound
from .infra.paging import Paged
from .inventory import NOT_WITHDRAWN

SOLD_WINDOW = datetime.timedelta(days=30)
PAGE_SIZE = 50
FIELDS = {"_id": 0, "isbn": 1, "title": 1, "author": 1, "stock": 1, "available": 1, "inventory_version": 1}


@dataclasses.dataclass(frozen=True)
class StockPage(Paged):
    sold_out: int = 0  # titles sold out, on every page together
    low: int = 0  # titles low on stock, on every page together


class StockReport:
    def __init__(self, db: Database, history: History):
        self.books = db.books
        self.history = history

    def bands(self, threshold: int) -> list[tuple[str, dict]]:
        return [
            ("sold-out", {"available": {"$lte": 0}}),
            ("low", {"available": {"$gt": 0, "$lt": threshold}}),
            ("ok", {"available": {"$gte": threshold}}),
        ]

    async def page(self, threshold: int, number: int = 1, size: int = PAGE_SIZE) -> StockPage:
        skip, rows, counts = (number - 1) * size, list[dict](), list[int]()
        for attention, band in self.bands(threshold):
            criteria = {**band, **NOT_WITHDRAWN}
            counted = await self.books.count_documents(criteria)
            counts.append(counted)
            if skip >= counted:
                skip -= counted
                continue
            if len(rows) < size:
                cursor = self.books.find(criteria, FIELDS).sort(
                    [("available", pymongo.ASCENDING), ("title", pymongo.ASCENDING), ("isbn", pymongo.ASCENDING)])
                found = await cursor.skip(skip).limit(size - len(rows)).to_list(size)
                rows.extend(dict(book, attention=attention) for book in found)
            skip = 0
        await self._count_held_and_sold(rows)
        return StockPage(rows, sum(counts), number, size, counts[0], counts[1])

    async def rows(self, isbns: list[str]) -> list[dict]:
        """These books' rows, as a page shows them (withdrawn ones too), in the order asked; NotFound
        names the first ISBN the catalog doesn't have."""
        found = {book["isbn"]: book async for book in self.books.find({"isbn": {"$in": isbns}}, FIELDS)}
        missing = [isbn for isbn in isbns if isbn not in found]
        if missing:
            raise NotFound(f"No book with ISBN {missing[0]}.")
        rows = [found[isbn] for isbn in isbns]
        await self._count_held_and_sold(rows)
        return rows

    async def _count_held_and_sold(self, rows: list[dict]) -> None:
        sold = await self.history.sold_since([row["isbn"] for row in rows], utcnow() - SOLD_WINDOW)
        for row in rows:
            row.update(held=row["stock"] - row["available"], sold=sold[row["isbn"]])
