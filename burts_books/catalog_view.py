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
"""

from __future__ import annotations

import asyncio
import bisect
import difflib
import logging
import secrets
from collections.abc import Iterable, Iterator

from .infra.bus import EventBus
from .infra.db import Database
from .search_text import html_words, words

log = logging.getLogger(__name__)

BOOK_CHANGED = "book"
STOCK_FIELDS = ("available", "inventory_version")
SORTS = ("relevance", "newest", "price", "title")
# A word found in the title counts most toward relevance, then subtitle, author or ISBN, then description.
WEIGHTS = {"title": 4, "other": 2, "description": 1}
SPELLING_CUTOFF = 0.8  # difflib's similarity a suggestion needs ("pyhton" and "python": 0.83)
SPELLING_LENGTH_SLACK = 2  # a suggestion has at most this many letters more or fewer than the word typed


class CatalogView:
    def __init__(self, db: Database, bus: EventBus):
        self._db = db
        self._books_collection = db.books
        self._bus = bus
        self._books: dict[str, dict] = {}
        self._newest: list[tuple] = []  # sort keys, newest first
        self._by_title: list[tuple] = []  # sort keys, title order
        self._by_price: list[tuple] = []  # sort keys, cheapest first
        # Where a search word is found, from most to least telling: what relevance weighs.
        self._indexes = {field: WordIndex() for field in WEIGHTS}
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
            self._index_words(book)
        # Sorted once: inserting 20,000 keys one by one at the front would be quadratic.
        self._newest = sorted(map(_newest_key, self._books.values()))
        self._by_title = sorted(map(_title_key, self._books.values()))
        self._by_price = sorted(map(_price_key, self._books.values()))
        self.version += 1
        log.info("catalog view holds %d books", len(self._books))

    # -- reading -----------------------------------------------------------

    def get(self, isbn: str) -> dict | None:
        book = self._books.get(isbn)
        return dict(book) if book is not None else None

    def newest(self, limit: int) -> list[dict]:
        return [dict(self._books[key[-1]]) for key in self._newest[:limit]]

    def stock(self, isbn: str) -> dict:
        """A book's stock as a listing shows it: {isbn, title, available, version}; a book gone has none."""
        book = self._books.get(isbn)
        if book is None:
            return {"isbn": isbn, "title": "", "available": 0, "version": 0}
        return {"isbn": isbn, "title": book["title"], "available": book["available"],
                "version": book["inventory_version"]}

    def price_cents(self, isbn: str) -> int:
        book = self._books.get(isbn)
        return book["price_cents"] if book is not None else 0

    def search(self, terms: list[str], sort: str, skip: int, limit: int) -> tuple[list[dict], int]:
        """Books where every term starts a word of theirs (title, subtitle, author, ISBN or
        description), in `sort` order (one of SORTS); and how many there are."""
        if not terms:
            keys = self._all_in(sort)
            return [dict(self._books[key[-1]]) for key in keys[skip:skip + limit]], len(keys)
        scores: dict[str, int] | None = None
        for term in dict.fromkeys(terms):
            found = self._scores_for(term)
            scores = found if scores is None else {isbn: score + found[isbn] for isbn, score in scores.items()
                                                   if isbn in found}
            if not scores:
                return [], 0
        assert scores is not None
        keys = sorted(_sort_key(sort, self._books[isbn], score) for isbn, score in scores.items())
        return [dict(self._books[key[-1]]) for key in keys[skip:skip + limit]], len(keys)

    def known(self, term: str) -> bool:
        """Whether some book has a word starting with `term`."""
        return any(index.has_prefix(term) for index in self._indexes.values())

    def closest_word(self, term: str) -> str | None:
        """The title or author word nearest to a misspelt `term` ("pyhton" -> "python"), if one is near."""
        candidates = [word for index in (self._indexes["title"], self._indexes["other"])
                      for word in index.words_near_in_length(term, SPELLING_LENGTH_SLACK)]
        close = difflib.get_close_matches(term, candidates, n=1, cutoff=SPELLING_CUTOFF)
        return close[0] if close else None

    def _scores_for(self, term: str) -> dict[str, int]:
        """{isbn: weight of the most telling field where a word of the book starts with `term`}."""
        scores: dict[str, int] = {}
        for field, weight in reversed(WEIGHTS.items()):  # the heaviest last, so it wins
            scores.update(dict.fromkeys(self._indexes[field].with_prefix(term), weight))
        return scores

    def _all_in(self, sort: str) -> list[tuple]:
        return {"newest": self._newest, "price": self._by_price}.get(sort, self._by_title)

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
        bisect.insort(self._newest, _newest_key(book))
        bisect.insort(self._by_title, _title_key(book))
        bisect.insort(self._by_price, _price_key(book))
        self._index_words(book)

    def _index_words(self, book: dict) -> None:
        for field, found in _words_by_field(book).items():
            self._indexes[field].add(book["isbn"], found)

    def _remove(self, isbn: str) -> None:
        book = self._books.pop(isbn, None)
        if book is None:
            return
        self.version += 1
        _discard_sorted(self._newest, _newest_key(book))
        _discard_sorted(self._by_title, _title_key(book))
        _discard_sorted(self._by_price, _price_key(book))
        for field, found in _words_by_field(book).items():
            self._indexes[field].remove(isbn, found)


def _newest_key(book: dict) -> tuple:
    # Newest first, then ISBN: the order MongoDB gives for sort(date_added -1, isbn 1).
    return (-book["date_added"].timestamp(), book["isbn"])


def _title_key(book: dict) -> tuple:
    return (book["title"], book["isbn"])


def _price_key(book: dict) -> tuple:
    return (book["price_cents"], book["title"], book["isbn"])


def _sort_key(sort: str, book: dict, score: int) -> tuple:
    if sort == "relevance":
        return (-score, book["title"], book["isbn"])
    return {"newest": _newest_key, "price": _price_key}.get(sort, _title_key)(book)


def _words_by_field(book: dict) -> dict[str, set[str]]:
    return {
        "title": set(words(book.get("title", ""))),
        "other": {book["isbn"], *words(book.get("subtitle", "")), *words(book.get("author", ""))},
        "description": set(html_words(book.get("description", ""))),
    }


class WordIndex:
    """Which books have a word, and every word in order, so a prefix finds its words by bisection."""

    def __init__(self) -> None:
        self._isbns: dict[str, set[str]] = {}
        self._sorted: list[str] = []
        self._stale = False  # words came or went since _sorted was made: sort again when next read
        self._by_length: dict[int, set[str]] = {}

    def add(self, isbn: str, found: Iterable[str]) -> None:
        for word in found:
            isbns = self._isbns.get(word)
            if isbns is None:
                isbns = self._isbns[word] = set()
                self._by_length.setdefault(len(word), set()).add(word)
                self._stale = True
            isbns.add(isbn)

    def remove(self, isbn: str, found: Iterable[str]) -> None:
        for word in found:
            isbns = self._isbns.get(word)
            if isbns is not None:
                isbns.discard(isbn)
                if not isbns:
                    del self._isbns[word]
                    self._by_length[len(word)].discard(word)
                    self._stale = True

    def _words(self) -> list[str]:
        if self._stale:
            self._sorted = sorted(self._isbns)
            self._stale = False
        return self._sorted

    def _starting_with(self, prefix: str) -> Iterator[str]:
        ordered = self._words()
        for word in ordered[bisect.bisect_left(ordered, prefix):]:
            if not word.startswith(prefix):
                return
            yield word

    def has_prefix(self, prefix: str) -> bool:
        return next(self._starting_with(prefix), None) is not None

    def with_prefix(self, prefix: str) -> set[str]:
        found: set[str] = set()
        for word in self._starting_with(prefix):
            found |= self._isbns[word]
        return found

    def words_near_in_length(self, term: str, slack: int) -> list[str]:
        return [word for length in range(len(term) - slack, len(term) + slack + 1)
                for word in self._by_length.get(length, ())]


def _discard_sorted(keys: list[tuple], key: tuple) -> None:
    position = bisect.bisect_left(keys, key)
    if position < len(keys) and keys[position] == key:
        del keys[position]

