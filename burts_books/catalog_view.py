"""The catalog as shoppers read it: every book in this process's memory, kept current by the bus.

Shopper pages (a book, the newest books, a catalog or search page) read from
here instead of the database, so their cost does not grow with the catalog
and MongoDB is spared the round trips. It stays right because:

- stock changes arrive as bus events `{"isbn", "available", "version"}` (the
  same ones the live feed announces) and are applied only when newer than
  what is held, so a page never shows a count older than one announced;
  the inventory service also applies its own changes here before answering;
- a change to a book's other fields publishes `{"kind": "book", "isbn",
  "origin"}`, and every other process re-reads that one book;
- after a bus outage (events lost) every book's stock is read again.

Staff pages and every write read the database itself: this is a view.

A withdrawn title stays here (its page keeps working for past orders) but
out of the listing and search indexes, so no listing, search, API page or
recommendation shows it.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import secrets
from collections.abc import Iterable

from .infra.bus import EventBus
from .infra.db import Database

log = logging.getLogger(__name__)

BOOK_CHANGED = "book"
STOCK_FIELDS = ("available", "inventory_version")


class CatalogView:
    def __init__(self, db: Database, bus: EventBus):
        self._db = db
        self._books_collection = db.books
        self._bus = bus
        self._books: dict[str, dict] = {}
        self._newest: list[tuple] = []  # sort keys, newest first
        self._by_title: list[tuple] = []  # sort keys, title order
        self._isbns_by_keyword: dict[str, set[str]] = {}
        self._keywords: list[str] = []  # sorted, for prefix search
        self._keywords_stale = False
        self._tasks: set[asyncio.Task] = set()
        # Bumped by every change to the books' fields (not their stock, which listings don't
        # show and book pages render per request): what a kept listing was rendered from.
        self.version = 0
        self._origin = secrets.token_hex(8)  # this process's view, which needs no telling
        bus.subscribe(self._on_event)
        bus.on_reconnect(lambda: self._in_background(self.reload_stock()))

    def __len__(self) -> int:
        return len(self._books)

    async def load(self) -> None:
        """Read every book; the view is complete once this returns."""
        async for book in self._db.scan("books"):
            self._books[book["isbn"]] = book
            if _listed(book):
                self._index_keywords(book)
        listed = [book for book in self._books.values() if _listed(book)]
        # Sorted once: inserting 20,000 keys one by one at the front would be quadratic.
        self._newest = sorted(map(_newest_key, listed))
        self._by_title = sorted(map(_title_key, listed))
        self.version += 1
        log.info("catalog view holds %d books", len(self._books))

    # -- reading -----------------------------------------------------------

    def get(self, isbn: str) -> dict | None:
        book = self._books.get(isbn)
        return dict(book) if book is not None else None

    def newest(self, limit: int) -> list[dict]:
        return [dict(self._books[key[-1]]) for key in self._newest[:limit]]

    def search(self, terms: list[str], skip: int, limit: int) -> tuple[list[dict], int]:
        """Books where every term is the start of one of their keywords, in title order; and how many."""
        if not terms:
            keys = self._by_title[skip:skip + limit]
            return [dict(self._books[key[-1]]) for key in keys], len(self._by_title)
        matches: set[str] | None = None
        for term in sorted(terms, key=len, reverse=True):  # longest first: the smallest sets
            found = self._isbns_with_prefix(term)
            matches = found if matches is None else matches & found
            if not matches:
                return [], 0
        assert matches is not None
        keys = sorted(_title_key(self._books[isbn]) for isbn in matches)
        return [dict(self._books[key[-1]]) for key in keys[skip:skip + limit]], len(keys)

    def _isbns_with_prefix(self, term: str) -> set[str]:
        if self._keywords_stale:
            self._keywords = sorted(self._isbns_by_keyword)
            self._keywords_stale = False
        found: set[str] = set()
        start = bisect.bisect_left(self._keywords, term)
        for keyword in self._keywords[start:]:
            if not keyword.startswith(term):
                break
            found |= self._isbns_by_keyword[keyword]
        return found

    # -- keeping current -----------------------------------------------------

    def apply_stock(self, state: dict) -> None:
        """A stock state from the bus or the inventory service; older ones are ignored."""
        book = self._books.get(state["isbn"])
        if book is not None and state["version"] > book["inventory_version"]:
            book["available"] = state["available"]
            book["inventory_version"] = state["version"]

    async def refresh(self, isbns: Iterable[str]) -> None:
        """Re-read these books (added, edited, or gone), in one query."""
        gone = set(isbns)
        async for book in self._books_collection.find({"isbn": {"$in": list(gone)}}, {"_id": 0}):
            gone.discard(book["isbn"])
            held = self._books.get(book["isbn"])
            if held is not None and held.get("catalog_version", 0) > book.get("catalog_version", 0):
                continue  # a later read of an edit landed first; this one is older
            if held is not None and held["inventory_version"] > book["inventory_version"]:
                # A stock event overtook this read; keep the newer count.
                book.update({field: held[field] for field in STOCK_FIELDS})
            self._put(book)
        for isbn in gone:
            self._remove(isbn)

    async def reload_stock(self) -> None:
        async for state in self._books_collection.find({}, {"_id": 0, "isbn": 1, **dict.fromkeys(STOCK_FIELDS, 1)}):
            self.apply_stock({"isbn": state["isbn"], "available": state["available"],
                              "version": state["inventory_version"]})

    async def changed(self, isbns: Iterable[str]) -> None:
        """Books' fields changed in the database: show them here now, and tell the other processes."""
        isbns = list(isbns)
        if isbns:
            await self.refresh(isbns)
        for isbn in isbns:
            await self._bus.publish({"kind": BOOK_CHANGED, "isbn": isbn, "origin": self._origin})

    def _on_event(self, event: dict) -> None:
        if event.get("kind") == BOOK_CHANGED:
            if event.get("origin") != self._origin:
                self._in_background(self.refresh([event["isbn"]]))
        elif "version" in event:
            self.apply_stock(event)

    def _in_background(self, work) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("catalog view could not catch up: %s", task.exception())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    # -- the indexes -------------------------------------------------------

    def _put(self, book: dict) -> None:
        self._remove(book["isbn"])
        self.version += 1
        self._books[book["isbn"]] = book
        if not _listed(book):
            return
        bisect.insort(self._newest, _newest_key(book))
        bisect.insort(self._by_title, _title_key(book))
        self._index_keywords(book)

    def _index_keywords(self, book: dict) -> None:
        for keyword in book.get("keywords", ()):
            if keyword not in self._isbns_by_keyword:
                self._isbns_by_keyword[keyword] = set()
                self._keywords_stale = True
            self._isbns_by_keyword[keyword].add(book["isbn"])

    def _remove(self, isbn: str) -> None:
        book = self._books.pop(isbn, None)
        if book is None:
            return
        self.version += 1
        _discard_sorted(self._newest, _newest_key(book))
        _discard_sorted(self._by_title, _title_key(book))
        for keyword in book.get("keywords", ()):
            isbns = self._isbns_by_keyword.get(keyword)
            if isbns is not None:
                isbns.discard(isbn)
                if not isbns:
                    del self._isbns_by_keyword[keyword]
                    self._keywords_stale = True


def _listed(book: dict) -> bool:
    return not book.get("withdrawn")


def _newest_key(book: dict) -> tuple:
    # Newest first, then ISBN: the order MongoDB gives for sort(date_added -1, isbn 1).
    return (-book["date_added"].timestamp(), book["isbn"])


def _title_key(book: dict) -> tuple:
    return (book["title"], book["isbn"])


def _discard_sorted(keys: list[tuple], key: tuple) -> None:
    position = bisect.bisect_left(keys, key)
    if position < len(keys) and keys[position] == key:
        del keys[position]

