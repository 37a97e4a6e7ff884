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

import array
import asyncio
import bisect
import difflib
import heapq
import logging
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from .infra.bus import EventBus
from .infra.db import Database
from .infra.slices import in_slices
from .search_text import html_words, words

log = logging.getLogger(__name__)

BOOK_CHANGED = "book"
STOCK_FIELDS = ("available", "inventory_version")
SORTS = ("relevance", "newest", "price", "title")
# A word found in the title counts most toward relevance, then subtitle, author or ISBN, then description.
WEIGHTS = {"title": 4, "other": 2, "description": 1}
SPELLING_CUTOFF = 0.8  # difflib's similarity a suggestion needs ("pyhton" and "python": 0.83)
SPELLING_LENGTH_SLACK = 2  # a suggestion has at most this many letters more or fewer than the word typed
SORTED_AT_MOST = 2_000  # matches sorted for a page; more are picked from the whole catalog's order
PREFIX_IN_DESCRIPTIONS = 3  # shorter terms match only whole words of a description
DESCRIBED_AT_ONCE = 100  # descriptions indexed before the view answers (the rest in the background)
RESORTED_PAST = 64  # words come or gone since a word index was read, past which it sorts them all again


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
        # The indexes hold small numbers for books (4 bytes a mention), not their ISBNs.
        self._indexes = {field: WordIndex() for field in WEIGHTS}
        self._number_of: dict[str, int] = {}
        self._isbn_of: list[str] = []
        self._described: set[int] = set()  # the books whose description is in its index
        self._tasks: set[asyncio.Task] = set()
        # Bumped by every change to the books' fields (not their stock, which listings don't
        # show and book pages render per request): what a kept listing was rendered from.
        self.version = 0
        # Bumped by every change to any book, its stock included: while it stands, a kept page
        # shows every book as it is now, however many it shows (SharedPageRendering.render_shared).
        self.changes = 0
        self._origin = secrets.token_hex(8)  # this process's view, which needs no telling
        bus.subscribe(self._on_event)
        bus.on_reconnect(lambda: self._in_background(self.catch_up()))

    def __len__(self) -> int:
        return len(self._books)

    async def load(self) -> None:
        """Read every book; the view is complete once this returns, but for descriptions.

        Descriptions are most of the words: past the first DESCRIBED_AT_ONCE books they are
        indexed in the background, a few milliseconds a turn of the loop, so a big catalog
        starts as fast and its first visitors are not kept waiting.
        """
        async for book in self._db.scan("books"):
            self._books[book["isbn"]] = book
            if _listed(book):
                self._index_words(book, described=False)
        listed = [book for book in self._books.values() if _listed(book)]
        numbers = [self._number_of[book["isbn"]] for book in listed]
        self._describe(numbers[:DESCRIBED_AT_ONCE])
        if len(numbers) > DESCRIBED_AT_ONCE:
            self._in_background(self._describe_in_slices(numbers[DESCRIBED_AT_ONCE:]))
        # Sorted once: inserting 20,000 keys one by one at the front would be quadratic.
        self._newest = sorted(map(_newest_key, listed))
        self._by_title = sorted(map(_title_key, listed))
        self._by_price = sorted(map(_price_key, listed))
        self.version += 1
        log.info("catalog view holds %d books", len(self._books))

    # -- reading -----------------------------------------------------------

    def get(self, isbn: str) -> dict | None:
        book = self._books.get(isbn)
        return dict(book) if book is not None else None

    def held(self, isbns: Iterable[str] | None = None) -> list[dict]:
        """These books' documents as held (every book's for None; unknown ISBNs left out): the view's
        own, to read at once and never change."""
        if isbns is None:
            return list(self._books.values())
        return [book for book in map(self._books.get, isbns) if book is not None]

    def newest(self, limit: int) -> list[dict]:
        return [dict(self._books[key[-1]]) for key in self._newest[:limit]]

    def versions(self, isbn: str) -> tuple[int, int] | None:
        """What a book's state is as of now (inventory and catalog versions), without copying it."""
        book = self._books.get(isbn)
        return (book["inventory_version"], book.get("catalog_version", 0)) if book is not None else None

    def price_cents(self, isbn: str) -> int:
        book = self._books.get(isbn)
        return book.get("price_cents", 0) if book is not None else 0

    def search(self, terms: list[str], sort: str, skip: int, limit: int) -> tuple[list[dict], int]:
        """Books where every term starts a word of theirs (title, subtitle, author, ISBN or
        description), in `sort` order (one of SORTS); and how many there are."""
        if not terms:
            keys = self._all_in(sort)
            return [dict(self._books[key[-1]]) for key in keys[skip:skip + limit]], len(keys)
        scores: dict[int, int] | None = None
        for term in dict.fromkeys(terms):
            found = self._scores_for(term)
            scores = found if scores is None else {book: score + found[book] for book, score in scores.items()
                                                   if book in found}
            if not scores:
                return [], 0
        assert scores is not None
        wanted = skip + limit
        if sort == "relevance":
            by_score: dict[int, list[int]] = {}
            for book, score in scores.items():
                by_score.setdefault(score, []).append(book)
            isbns: list[str] = []
            for score in sorted(by_score, reverse=True):  # the best first, each score in title order
                isbns += self._first(by_score[score], "title", wanted - len(isbns))
                if len(isbns) >= wanted:
                    break
        else:
            isbns = self._first(scores, sort, wanted)
        return [dict(self._books[isbn]) for isbn in isbns[skip:wanted]], len(scores)

    def _first(self, books: Iterable[int], sort: str, count: int) -> list[str]:
        """The first `count` of these books in `sort` order, as ISBNs.

        A few are sorted; many (a common word matches most of the catalog) are picked
        from the order kept for the whole catalog, which soon yields a page of them.
        """
        isbns = {self._isbn_of[book] for book in books}
        if len(isbns) <= SORTED_AT_MOST:
            return [key[-1] for key in heapq.nsmallest(count, (_sort_key(sort, self._books[isbn]) for isbn in isbns))]
        first = []
        for key in self._all_in(sort):
            if key[-1] in isbns:
                first.append(key[-1])
                if len(first) == count:
                    break
        return first

    def known(self, term: str) -> bool:
        """Whether some book has a word starting with `term`."""
        return any(index.has_prefix(term) for index in self._indexes.values())

    def closest_word(self, term: str) -> str | None:
        """The title or author word nearest to a misspelt `term` ("pyhton" -> "python"), if one is near."""
        candidates = [word for index in (self._indexes["title"], self._indexes["other"])
                      for word in index.words_near_in_length(term, SPELLING_LENGTH_SLACK) if not word.isdigit()]
        close = difflib.get_close_matches(term, candidates, n=1, cutoff=SPELLING_CUTOFF)
        return close[0] if close else None

    def _scores_for(self, term: str) -> dict[int, int]:
        """{book: weight of the most telling field where a word of the book starts with `term`}."""
        scores: dict[int, int] = {}
        for field, weight in reversed(WEIGHTS.items()):  # the heaviest last, so it wins
            index = self._indexes[field]
            # In descriptions a short term is a whole word: "c" is not every word starting with c.
            found = index.with_word(term) if field == "description" and len(term) < PREFIX_IN_DESCRIPTIONS else (
                index.with_prefix(term))
            scores.update(dict.fromkeys(found, weight))
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
            self.changes += 1

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

    async def catch_up(self) -> None:
        """After events may have been lost (a Redis outage): every book's stock as the database has it,
        and the books added, edited or gone meanwhile read again."""
        fields = ("isbn", "catalog_version", *STOCK_FIELDS)
        stale, seen = [], set()
        async for state in self._db.scan("books", fields):
            seen.add(state["isbn"])
            self.apply_stock({"isbn": state["isbn"], "available": state["available"],
                              "version": state["inventory_version"]})
            held = self._books.get(state["isbn"])
            if held is None or held.get("catalog_version", 0) != state.get("catalog_version", 0):
                stale.append(state["isbn"])
        stale += set(self._books) - seen
        if stale:
            await self.refresh(stale)

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
        self.changes += 1
        self._books[book["isbn"]] = book
        if not _listed(book):
            return
        bisect.insort(self._newest, _newest_key(book))
        bisect.insort(self._by_title, _title_key(book))
        bisect.insort(self._by_price, _price_key(book))
        self._index_words(book, described=True)

    def _index_words(self, book: dict, described: bool) -> None:
        number = self._number_of.get(book["isbn"])
        if number is None:
            number = self._number_of[book["isbn"]] = len(self._isbn_of)
            self._isbn_of.append(book["isbn"])
        for field in ("title", "other"):
            self._indexes[field].add(number, _words_of(field, book))
        if described:
            self._describe([number])

    def _describe(self, numbers: Iterable[int]) -> None:
        for number in numbers:
            book = self._books.get(self._isbn_of[number])
            if book is not None and number not in self._described:
                self._indexes["description"].add(number, _words_of("description", book))
                self._described.add(number)

    async def _describe_in_slices(self, numbers: list[int]) -> None:
        async for number in in_slices(numbers):
            self._describe([number])
        self.version += 1  # a search kept meanwhile may have missed books found by their description
        log.info("catalog view: every description indexed")

    def _remove(self, isbn: str) -> None:
        book = self._books.pop(isbn, None)
        if book is None:
            return
        self.version += 1
        self.changes += 1
        if not _listed(book):
            return  # a withdrawn title is in no list and no index
        _discard_sorted(self._newest, _newest_key(book))
        _discard_sorted(self._by_title, _title_key(book))
        _discard_sorted(self._by_price, _price_key(book))
        number = self._number_of[isbn]
        for field in ("title", "other"):
            self._indexes[field].remove(number, _words_of(field, book))
        if number in self._described:
            self._described.discard(number)
            self._indexes["description"].remove(number, _words_of("description", book))


def _listed(book: dict) -> bool:
    return not book.get("withdrawn")


def _newest_key(book: dict) -> tuple:
    # Newest first, then ISBN: the order MongoDB gives for sort(date_added -1, isbn 1).
    return (-book["date_added"].timestamp(), book["isbn"])


def _title_key(book: dict) -> tuple:
    return (book["title"], book["isbn"])


def _price_key(book: dict) -> tuple:
    return (book.get("price_cents", 0), book["title"], book["isbn"])


def _sort_key(sort: str, book: dict) -> tuple:
    return {"newest": _newest_key, "price": _price_key}.get(sort, _title_key)(book)


def _words_of(field: str, book: dict) -> set[str]:
    if field == "title":
        return set(words(book.get("title", "")))
    if field == "other":
        return {book["isbn"], *words(book.get("subtitle", "")), *words(book.get("author", ""))}
    return set(html_words(book.get("description", "")))


class WordIndex:
    """Which books (by number) have a word, and every word in order, so a prefix finds its words by bisection.

    A word's books are kept in order, so an edit finds a book among the 20,000 with a common word
    by bisection (a scan of them, twice, for each of its words took 70 ms an edit).
    """

    def __init__(self) -> None:
        self._books: dict[str, array.array] = {}  # word -> its books' numbers, ascending
        self._sorted: list[str] = []
        # Words that came or went since _sorted was made: a few (an edit's) go in one by one when
        # next read, many (start-up's) by sorting again. An edit takes its ISBN out and puts it
        # back, which needs nothing; sorting the 20,000 of them again took 7 ms.
        self._came: set[str] = set()
        self._went: set[str] = set()
        self._by_length: dict[int, set[str]] = {}

    def add(self, book: int, found: Iterable[str]) -> None:
        for word in found:
            books = self._books.get(word)
            if books is None:
                books = self._books[word] = array.array("I")
                self._by_length.setdefault(len(word), set()).add(word)
                if word in self._went:
                    self._went.discard(word)
                else:
                    self._came.add(word)
            if not books or books[-1] < book:  # start-up indexes the books in order
                books.append(book)
            else:
                books.insert(bisect.bisect_left(books, book), book)

    def remove(self, book: int, found: Iterable[str]) -> None:
        for word in found:
            books = self._books.get(word)
            if books is None:
                continue
            position = bisect.bisect_left(books, book)
            if position < len(books) and books[position] == book:
                del books[position]
                if not books:
                    del self._books[word]
                    self._by_length[len(word)].discard(word)
                    if word in self._came:
                        self._came.discard(word)
                    else:
                        self._went.add(word)

    def _words(self) -> list[str]:
        if len(self._came) + len(self._went) > RESORTED_PAST:
            self._sorted = sorted(self._books)
        else:
            for word in self._went:
                _discard_sorted(self._sorted, word)
            for word in self._came:
                bisect.insort(self._sorted, word)
        self._came.clear()
        self._went.clear()
        return self._sorted

    def _starting_with(self, prefix: str) -> Iterator[str]:
        ordered = self._words()
        for word in ordered[bisect.bisect_left(ordered, prefix):]:
            if not word.startswith(prefix):
                return
            yield word

    def has_prefix(self, prefix: str) -> bool:
        return next(self._starting_with(prefix), None) is not None

    def with_prefix(self, prefix: str) -> set[int]:
        found: set[int] = set()
        for word in self._starting_with(prefix):
            found.update(self._books[word])
        return found

    def with_word(self, word: str) -> set[int]:
        return set(self._books.get(word, ()))

    def words_near_in_length(self, term: str, slack: int) -> list[str]:
        return [word for length in range(len(term) - slack, len(term) + slack + 1)
                for word in self._by_length.get(length, ())]


def _discard_sorted(keys: list, key: Any) -> None:
    position = bisect.bisect_left(keys, key)
    if position < len(keys) and keys[position] == key:
        del keys[position]
