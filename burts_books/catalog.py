"""The catalog: books keyed by ISBN-13, their validation, search and editing.

Knows MongoDB, knows nothing of HTTP. Stock counts belong to the inventory
service, which this module calls so that every change reaches live pages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

import nh3
import pymongo
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError

from . import covers, history
from . import isbn as isbn_codes
from .catalog_view import SORTS, CatalogView
from .infra.clock import utcnow
from .infra.db import Database, DuplicateKeyError
from .infra.errors import Invalid, NotFound, ValidationError
from .infra.numbers import whole_number
from .inventory import MAX_STOCK, Inventory, StockError
from .search_text import words

MAX_PRICE = 10_000
# The edit form's record of the book's catalog_version it showed (see Catalog.update).
VERSION_FIELD = "version_seen"
NO_COVER = "/static/images/no-cover.svg"

# Tags a staff member may use in a description; everything else is stripped.
DESCRIPTION_TAGS = {"p", "br", "em", "strong", "i", "b", "ul", "ol", "li", "a", "blockquote"}

# ASCII digits only: "1e2", "NaN" or other scripts' digits are not prices a person typed.
_PRICE = re.compile(r"\$?(?P<units>[0-9]{1,6})(?:\.(?P<cents>[0-9]*))?")
_IMAGE_URL = re.compile(r"(/static/[\w./-]+|/covers/[\w.-]+|https://[^\s\"'<>]+)")


@dataclasses.dataclass(frozen=True)
class Page:
    books: list[dict]
    total: int
    number: int
    size: int
    query: str = ""
    sort: str = "title"
    # When no book matched the words typed: the words searched instead ("pyhton" -> "python").
    corrected: str = ""

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.count

    @property
    def past_the_end(self) -> bool:
        return self.number > self.count

    def numbers(self, around: int = 2) -> list[int | None]:
        """The page numbers to offer: the first, the last and those near this one; None for a gap."""
        shown = sorted({1, self.count, *range(max(1, self.number - around), min(self.count, self.number + around) + 1)})
        numbers: list[int | None] = []
        for number in shown:
            if numbers and number - (numbers[-1] or 0) > 1:
                numbers.append(None)
            numbers.append(number)
        return numbers


def price_text(cents: int) -> str:
    """Cents as the price a person reads and types: 3999 -> "39.99"."""
    return f"{cents // 100}.{cents % 100:02d}"


def keywords_for(book: Mapping) -> list[str]:
    found = {book["isbn"]}
    for field in ("title", "subtitle", "author"):
        found.update(words(book.get(field, "")))
    return sorted(found)


def sanitize_description(html: str) -> str:
    return nh3.clean(
        html,
        tags=DESCRIPTION_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    ).strip()


def _normalized_or_none(raw: str) -> str | None:
    try:
        return isbn_codes.normalize(raw)
    except isbn_codes.InvalidISBN:
        return None


def _isbn(raw: str) -> str:
    try:
        return isbn_codes.normalize(raw)
    except isbn_codes.InvalidISBN as exc:
        raise ValueError(f"Not a valid ISBN: {exc}.") from None


def _image(raw: str) -> str:
    if raw and not _IMAGE_URL.fullmatch(raw):
        raise ValueError("Give an https:// address or a /static/ path.")
    # Pages put a /static/ path through static_url, which refuses (403) a path outside the folder:
    # every page showing the book would.
    if not raw.startswith("https://") and {"", ".", ".."} & set(raw.split("/")[2:]):
        raise ValueError("Give a path without empty, . or .. steps.")
    return raw or NO_COVER


def _price_cents(raw: str) -> int:
    price = _PRICE.fullmatch(raw)
    if price is None:
        raise ValueError(f"Give a price between 0 and {MAX_PRICE}, like 39.99.")
    if len(price["cents"] or "") > 2:
        raise ValueError("Use at most two decimals.")
    cents = int(price["units"]) * 100 + int((price["cents"] or "0").ljust(2, "0"))
    if cents > MAX_PRICE * 100:
        raise ValueError(f"Give a price between 0 and {MAX_PRICE}, like 39.99.")
    return cents


def _stock(raw: str) -> int:
    try:
        return whole_number(raw, 0, MAX_STOCK)
    except ValueError:
        raise ValueError(f"Give a whole number of copies from 0 to {MAX_STOCK}.") from None


def _text(raw: str) -> str:
    return raw


@dataclasses.dataclass(frozen=True)
class Field:
    """One field of the book form: how long it may be, and what it becomes in the book."""

    name: str
    parse: Callable[[str], object] = _text
    required: bool = False
    limit: int | None = None
    stored_as: str = ""


FORM_FIELDS = (
    Field("isbn", _isbn, required=True),
    Field("title", required=True, limit=200),
    Field("subtitle", limit=200),
    Field("author", required=True, limit=200),
    Field("image", _image, limit=500),
    Field("date_released", limit=40),
    Field("description", sanitize_description, limit=5000),
    Field("price", _price_cents, required=True, stored_as="price_cents"),
    Field("stock", _stock, required=True),
)


def parse_book_form(form: Mapping[str, str]) -> dict:
    """Turn submitted fields into book fields, or raise ValidationError listing every problem."""
    book: dict = {}
    errors: dict[str, str] = {}
    for field in FORM_FIELDS:
        raw = (form.get(field.name) or "").strip()
        if field.required and not raw:
            errors[field.name] = "This field is required."
            continue
        try:
            value = field.parse(raw)
        except ValueError as exc:
            errors[field.name] = str(exc)
            continue
        # Measured as stored, which the edit form shows: a description made safe can be longer
        # than typed (& is stored as &amp;), and saving the form again unchanged must pass.
        if field.limit is not None and isinstance(value, str) and len(value) > field.limit:
            stored = f" as saved (this comes to {len(value)})" if value != raw else ""
            errors[field.name] = f"At most {field.limit} characters{stored}."
        else:
            book[field.stored_as or field.name] = value
    if errors:
        raise ValidationError(errors)
    book["keywords"] = keywords_for(book)
    return book


def book_form(book: Mapping) -> dict[str, str]:
    """A stored book as the strings of its form fields: what parse_book_form turns back into it."""
    form = {field.name: str(book.get(field.stored_as or field.name, "")) for field in FORM_FIELDS}
    form["price"] = price_text(book["price_cents"])
    return form


def _new_document(book: dict, editor: str, now: datetime.datetime) -> dict:
    document = {"stock": 0, "image": NO_COVER, **book}
    document.update(available=document["stock"], inventory_version=1, catalog_version=1,
                    date_added=now, updated_at=now, updated_by=editor)
    document[history.PENDING] = [history.entry("added", editor, document["isbn"], copies=document["stock"])]
    return document


def _with_cover(book: dict, cover: dict[str, str] | None) -> dict:
    if cover:
        book.update(image=covers.largest(cover), cover=cover)
    return book


class EditConflict(ValidationError):
    """An edit made from a form shown before someone else saved the book: each field whose value
    differs from the saved one says what is saved now, and VERSION_FIELD who saved it."""

    def __init__(self, by: str, conflicts: dict[str, str], stock_saved: bool = False):
        # stock_saved: the other edit landed between this one's stock and its fields (see Catalog.update).
        kept = " but for the copies in stock, which were" if stock_saved else ""
        super().__init__({VERSION_FIELD: f"{by} saved this book while you were editing it, so your changes to "
                                         f"it were not saved{kept}. The fields marked show what is saved now; "
                                         "save again to keep what this form has.", **conflicts})
        self.by, self.conflicts, self.stock_saved = by, conflicts, stock_saved


def _refuse_a_conflict(book: dict, current: dict, expected_version: int | None) -> None:
    """EditConflict when `current` was saved since a form showed `expected_version`, and differs
    from what the form sends; when it doesn't, the other edit saved what this one would."""
    if expected_version is not None and current.get("catalog_version", 0) != expected_version:
        conflicts = _conflicts(book, current)
        if conflicts:
            raise EditConflict(current.get("updated_by", "someone"), conflicts)


def _conflicts(book: dict, current: dict) -> dict[str, str]:
    """For each field of the form whose value in `book` differs from the saved one (`current`), what is saved."""
    saved = book_form(current)
    return {field.name: "Saved meanwhile as: " + (_shortened(saved[field.name]) or "(empty)")
            for field in FORM_FIELDS if field.name not in ("isbn", "stock")
            and book.get(field.stored_as or field.name) != current.get(field.stored_as or field.name)}


def _shortened(text: str, most: int = 120) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def _cover_follows_image(book: dict, current: dict) -> None:
    """An uploaded cover's sizes go with the image they were made from: a change of the image to
    another address (typed, or imported) drops them; an upload brings its own."""
    uploaded = current.get("cover")
    if "cover" not in book and uploaded and book.get("image", current["image"]) not in uploaded.values():
        book["cover"] = {}


UNRECORDED = ("stock", "keywords", "cover")  # stock is recorded apart; the others follow from recorded fields


def _edits(book: dict, current: dict, editor: str) -> list[dict]:
    """History entries for the fields `book` changes in `current`."""
    return [history.entry("edit", editor, current["isbn"], field=name, old=current.get(name), new=value)
            for name, value in book.items() if name not in UNRECORDED and current.get(name) != value]


def _update_for(book: dict, current: dict, stock_changed: bool, editor: str,
                now: datetime.datetime) -> dict | None:
    """The update that brings `current` to `book` (stock is set apart), or None if nothing changed."""
    fields = {k: v for k, v in book.items() if k != "stock" and current.get(k) != v}
    if not (fields or stock_changed):
        return None
    update: dict = {"$set": dict(fields, updated_at=now, updated_by=editor)}
    if fields:
        # catalog_version names this state of the book's fields, for caches of what shows them.
        update["$inc"] = {"catalog_version": 1}
    return history.recording(update, _edits(book, current, editor))


@dataclasses.dataclass
class Upserted:
    """What upsert_many did, book by book (ISBNs)."""

    added: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    rejected: dict[str, ValidationError] = dataclasses.field(default_factory=dict)


class Catalog:
    """Shoppers read the catalog view (memory, kept current by the bus); staff and writes the database."""

    def __init__(self, db: Database, inventory: Inventory, view: CatalogView):
        self.books = db.books
        self.inventory = inventory
        self.view = view
        self.history = inventory.history

    async def get(self, isbn: str) -> dict:
        """The book with this ISBN, in any form people write one (ISBN-10, hyphens); NotFound if none."""
        # The view is keyed by ISBN-13: an address that is one needs no parsing.
        book = self.view.get(isbn) or self.view.get(_normalized_or_none(isbn) or "")
        if book is None:
            raise NotFound(f"There is no book with ISBN {isbn} in our catalog.")
        return book

    async def get_current(self, isbn: str) -> dict:
        """get() as the database has it this moment: for staff about to change the book."""
        normalized = _normalized_or_none(isbn)
        book = await self.books.find_one({"isbn": normalized}, {"_id": 0}) if normalized else None
        if book is None:
            raise NotFound(f"There is no book with ISBN {isbn} in our catalog.")
        return book

    async def titles(self, isbns: Iterable[str]) -> dict[str, str]:
        """{isbn: title} of these books (from memory), for pages that list ISBNs."""
        return {isbn: book["title"] for isbn in isbns if (book := self.view.get(isbn)) is not None}

    async def search(self, query: str = "", page: int = 1, size: int = 12, sort: str | None = None) -> Page:
        """Books matching every word of `query` (ISBN in any form, words with symbols, a misspelt
        word corrected when nothing matches it); `sort` is one of SORTS, by default relevance
        for a search and title order for the whole catalog."""
        sort = sort or ("relevance" if query.strip() else "title")
        if sort not in SORTS:
            raise Invalid(f"Sort by {', '.join(SORTS)}.")
        isbn = _normalized_or_none(query)
        if isbn is not None:
            book = self.view.get(isbn)
            if book is not None and book.get("withdrawn"):
                book = None  # its page stays for past orders, but searches no longer find it
            books = [book] if book is not None and page == 1 else []
            return Page(books, int(book is not None), page, size, isbn, sort)
        terms = words(query)
        corrected = [term if self.view.known(term) else (self.view.closest_word(term) or term) for term in terms]
        if corrected == terms:
            corrected = []
        books, total = self.view.search(corrected or terms, sort, (page - 1) * size, size)
        return Page(books, total, page, size, " ".join(terms), sort, " ".join(corrected))

    async def newest(self, limit: int) -> list[dict]:
        return self.view.newest(limit)

    def by_isbn(self) -> AsyncIterator[dict]:
        """Every book in ISBN order, streamed from a cursor (the unique ISBN index orders it)."""
        return self.books.find({}, {"_id": 0}).sort("isbn", pymongo.ASCENDING)

    async def add(self, form: Mapping[str, str], staff_email: str, cover: dict[str, str] | None = None) -> dict:
        """Add a book; `cover` is an uploaded cover ({width: address}, see covers.py), which wins over the form's."""
        book = _new_document(_with_cover(parse_book_form(form), cover), staff_email, utcnow())
        try:
            await self.books.insert_one(book)
        except DuplicateKeyError:
            raise ValidationError({"isbn": "A book with this ISBN is already in the catalog."}) from None
        await self.history.drain_books([book["isbn"]])
        await self.view.changed([book["isbn"]])
        await self.inventory.publish_state(book["isbn"])
        return await self.get(book["isbn"])

    async def update(
        self, isbn: str, form: Mapping[str, str], staff_email: str, expected_stock: int | None = None,
        cover: dict[str, str] | None = None, expected_version: int | None = None,
    ) -> dict:
        """Save an edit. `expected_stock` is the stock the editor was shown (see Inventory.set_stock);
        `cover` an uploaded cover, as for add(); `expected_version` the catalog_version of the book
        the form showed: if another edit was saved since, EditConflict, and nothing is saved."""
        current = await self.get_current(isbn)
        book = _with_cover(parse_book_form(form), cover)
        if book["isbn"] != current["isbn"]:
            raise ValidationError({"isbn": "The ISBN of a book can't be changed."})
        _refuse_a_conflict(book, current, expected_version)
        stock = book.pop("stock")
        _cover_follows_image(book, current)
        # Stock first: it is the only part that can be refused (copies in carts, or changed meanwhile).
        try:
            await self.inventory.set_stock(current["isbn"], stock, expected_stock, who=staff_email)
        except StockError as exc:
            raise ValidationError({"stock": str(exc)}) from None
        try:
            await self._change_fields(current, book, staff_email, expected_version=expected_version)
        except EditConflict as conflict:
            if stock == current["stock"]:
                raise
            # The stock is set first, as the one part that can be refused; the other edit landed after.
            raise EditConflict(conflict.by, conflict.conflicts, stock_saved=True) from None
        return await self.get(current["isbn"])

    async def _change_fields(self, current: dict, fields: dict, who: str, entries: list[dict] | None = None,
                             expected_version: int | None = None) -> None:
        """Set `fields` on the book, recording each change (or `entries`) in the same update.

        Conditioned on the catalog version read, so the old values recorded are
        the ones replaced: an edit saved meanwhile makes us read again, and, for
        a form that showed `expected_version`, see whether it conflicts.
        """
        while True:
            changes = _edits(fields, current, who) if entries is None else entries
            # catalog_version names this state of the book's fields, for caches of what shows them.
            update = {"$set": dict(fields, updated_at=utcnow(), updated_by=who), "$inc": {"catalog_version": 1}}
            result = await self.books.update_one(
                {"isbn": current["isbn"], "catalog_version": current.get("catalog_version")},
                history.recording(update, changes))
            if result.modified_count:
                break
            current = await self.get_current(current["isbn"])
            _refuse_a_conflict(fields, current, expected_version)
        await self.history.drain_books([current["isbn"]])
        await self.view.changed([current["isbn"]])

    async def set_withdrawn(self, isbn: str, withdrawn: bool, who: str) -> dict:
        """Withdraw a title from sale (gone from listings, search, the API and carts), or restore it.

        Its page stays, for past orders; copies already in carts stay there.
        """
        current = await self.get_current(isbn)
        if bool(current.get("withdrawn")) != withdrawn:
            kind = "withdrawn" if withdrawn else "restored"
            await self._change_fields(current, {"withdrawn": withdrawn}, who,
                                      [history.entry(kind, who, current["isbn"])])
        return await self.get(current["isbn"])


    async def upsert_many(self, books: Sequence[dict], editor: str) -> Upserted:
        """Add the new books and update the changed ones, in a few bulk writes.

        `books` come from parse_book_form, each ISBN once. A book without
        "stock" or "image" (a feed that carries neither) keeps its own, or
        gets 0 copies and no cover when new. Stock changes go through the
        inventory service, which refuses to go below the copies held in
        carts: such a book is rejected and left as it was.
        """
        done = Upserted()
        cursor = self.books.find({"isbn": {"$in": [book["isbn"] for book in books]}}, {"_id": 0})
        existing = {book["isbn"]: book async for book in cursor}
        new_stock = {book["isbn"]: book["stock"] for book in books
                     if book["isbn"] in existing and book.get("stock", existing[book["isbn"]]["stock"])
                     != existing[book["isbn"]]["stock"]}
        refused = await self._set_stocks(new_stock, editor)  # first: the one change that may be refused
        now = utcnow()
        new = [_new_document(book, editor, now) for book in books if book["isbn"] not in existing]
        changes, announce = [], []
        for book in books:
            isbn, current = book["isbn"], existing.get(book["isbn"])
            if current is None:
                continue
            if isbn in refused:
                done.rejected[isbn] = ValidationError({"stock": refused[isbn]})
                continue
            _cover_follows_image(book, current)
            update = _update_for(book, current, isbn in new_stock, editor, now)
            if update is None:
                done.unchanged.append(isbn)
                continue
            changes.append(UpdateOne({"isbn": isbn}, update))
            done.updated.append(isbn)
            if "$inc" in update:
                # set_stock announced a stock change; other changes are announced once written.
                announce.append(isbn)
        taken = await self._insert_new(new) if new else set()
        for document in new:
            if document["isbn"] in taken:
                done.rejected[document["isbn"]] = ValidationError(
                    {"isbn": "A book with this ISBN was added meanwhile; import again to update it."})
            else:
                done.added.append(document["isbn"])
                announce.append(document["isbn"])
        if changes:
            await self.books.bulk_write(changes, ordered=False)
        await self.history.drain_books(done.added + done.updated)
        await self.view.changed(announce)
        await self.inventory.publish_states(announce)
        return done

    async def _set_stocks(self, stocks: dict[str, int], editor: str) -> dict[str, str]:
        """Set the books' stock through the inventory service, all at once; returns why it refused some.

        Concurrent, so a server's round trips (and a journal's syncs) overlap.
        """
        results = await asyncio.gather(
            *(self.inventory.set_stock(isbn, stock, who=editor) for isbn, stock in stocks.items()),
            return_exceptions=True)
        refused = {}
        for isbn, result in zip(stocks, results, strict=True):
            if isinstance(result, StockError):
                refused[isbn] = str(result)
            elif isinstance(result, BaseException):
                raise result
        return refused

    async def _insert_new(self, documents: list[dict]) -> set[str]:
        """Insert the documents; returns the ISBNs someone else added since we looked."""
        try:
            await self.books.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            if any(error["code"] != 11000 for error in errors):
                raise
            return {documents[error["index"]]["isbn"] for error in errors}
        return set()
