"""Staff add and edit books (the book's /add and /edit/<isbn>), restock, withdraw and restore them.

The add and edit forms are multipart: they may carry a cover image (see covers.py).
"""

from ...accounts import known_as
from ...catalog import VERSION_FIELD, EditConflict, book_form
from ...infra.errors import Invalid, ValidationError
from ...infra.numbers import whole_number
from ...inventory import MAX_STOCK
from ..base import staff_only
from ..mixins import FlashMixin, RestockMixin, StaffUpload, restocked

FORM_FIELDS = ("isbn", "title", "subtitle", "image", "author", "date_released",
               "description", "price", "stock", "stock_seen", VERSION_FIELD)
FORM_OVERHEAD = 64 * 1024  # the form's text fields, beside its cover


def form_values(book: dict) -> dict:
    """A stored book as the strings its edit form shows."""
    values = book_form(book)
    values["stock_seen"] = values["stock"]
    values[VERSION_FIELD] = str(book.get("catalog_version", 0))
    return values


class BookPage(FlashMixin):
    """The add or edit page: the book form, and when editing, stock, restock, withdrawal and history."""

    async def show_form(self, values: dict, errors: dict, editing: str = "", status: int = 200,
                        restock_error: str = "") -> None:
        """The form with `values`; `editing` is the ISBN of the book edited (none when adding)."""
        book, changes = None, None
        if editing:
            book = await self.services.catalog.get_current(editing)
            changes = await self.services.history.for_book(book["isbn"])
        self.set_status(status)
        self.render("book_form.html", values=values, errors=errors, editing=editing, book=book,
                    changes=changes, restock_error=restock_error)


class BookFormHandler(StaffUpload, BookPage):
    def upload_limit(self) -> int:
        # Room for a file up to twice too large, so it gets a clear message on the form (covers.py
        # measures it) rather than a dropped connection.
        return 2 * self.shop_settings.max_cover_bytes + FORM_OVERHEAD

    def submitted(self) -> dict:
        return {name: self.get_body_argument(name, "") for name in FORM_FIELDS}

    async def cover(self) -> dict | None:
        """The uploaded cover, checked and stored; None when none was chosen. ValidationError on "cover"."""
        data = self.uploaded("cover")
        return await self.services.covers.store(data) if data else None

    def stock_seen(self) -> int | None:
        """The stock the edit form showed, so saving it can't undo sales made since."""
        return self._number_seen("stock_seen", MAX_STOCK)

    def version_seen(self) -> int | None:
        """The book's catalog_version the edit form showed, so saving it can't undo another's edit."""
        return self._number_seen(VERSION_FIELD, 2**53)

    def _number_seen(self, name: str, most: int) -> int | None:
        try:
            return whole_number(self.get_body_argument(name, ""), 0, most)
        except ValueError:
            return None


class AddBookHandler(BookFormHandler):
    @staff_only
    async def get(self):
        await self.show_form({}, {})

    @staff_only
    async def post(self):
        self.read_form()
        form = self.submitted()
        try:
            book = await self.services.catalog.add(form, known_as(self.current_user), await self.cover())
        except ValidationError as exc:
            await self.show_form(form, exc.errors, status=400)
            return
        self.done(f"Added “{book['title']}” with {book['stock']} copies in stock.",
                  self.reverse_url("edit_book", book["isbn"]))


class EditBookHandler(BookFormHandler):
    @staff_only
    async def get(self, raw_isbn):
        book = await self.services.catalog.get_current(raw_isbn)
        await self.show_form(form_values(book), {}, editing=book["isbn"])

    @staff_only
    async def post(self, raw_isbn):
        self.read_form()
        book = await self.services.catalog.get_current(raw_isbn)
        form = self.submitted()
        try:
            saved = await self.services.catalog.update(
                book["isbn"], form, known_as(self.current_user), expected_stock=self.stock_seen(),
                cover=await self.cover(), expected_version=self.version_seen(),
            )
        except ValidationError as exc:
            current = await self.services.catalog.get_current(book["isbn"])
            # Saving again applies the number typed to the stock as it is now, and the form's fields
            # over the other edit, now that the editor has seen it.
            if "stock" in exc.errors or (isinstance(exc, EditConflict) and exc.stock_saved):
                form["stock_seen"] = str(current["stock"])
            if isinstance(exc, EditConflict):
                form[VERSION_FIELD] = str(current.get("catalog_version", 0))
            await self.show_form(form, exc.errors, editing=book["isbn"], status=400)
            return
        self.done(f"Saved your changes to “{saved['title']}”.", self.reverse_url("edit_book", saved["isbn"]))


class RestockHandler(RestockMixin, BookPage):
    """The edit page's restock form; a bad number is shown on that form."""

    @staff_only
    async def post(self, raw_isbn):
        book = await self.services.catalog.get_current(raw_isbn)
        try:
            copies, state = await self.restock(book["isbn"], self.get_body_argument("copies", ""))
        except Invalid as exc:
            await self.show_form(form_values(book), {}, editing=book["isbn"], status=400, restock_error=str(exc))
            return
        self.done(restocked(copies, book, state), self.reverse_url("edit_book", book["isbn"]))


class WithdrawHandler(FlashMixin):
    """Withdraw a title from sale (POST withdraw=1), or restore it (withdraw=0)."""

    @staff_only
    async def post(self, raw_isbn):
        withdraw = self.get_body_argument("withdraw", "") == "1"
        book = await self.services.catalog.set_withdrawn(raw_isbn, withdraw, known_as(self.current_user))
        said = ("is withdrawn from sale: it is gone from listings, search and the API, and can't be put in carts"
                if withdraw else "is back on sale")
        self.done(f"“{book['title']}” {said}.", self.reverse_url("edit_book", book["isbn"]))
