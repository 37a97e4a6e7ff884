"""Staff pages: add and edit books (the book's /add and /edit/<isbn>)."""

from ..catalog import book_form
from ..infra.errors import ValidationError
from ..infra.numbers import whole_number
from ..inventory import MAX_STOCK
from .base import BaseHandler, staff_only

FORM_FIELDS = ("isbn", "title", "subtitle", "image", "author", "date_released",
               "description", "price", "stock", "stock_seen")


def form_values(book: dict) -> dict:
    """A stored book as the strings its edit form shows."""
    values = book_form(book)
    values["stock_seen"] = values["stock"]
    return values


class BookFormHandler(BaseHandler):
    def submitted(self) -> dict:
        return {name: self.get_body_argument(name, "") for name in FORM_FIELDS}

    def show_form(self, values: dict, errors: dict, editing: bool, status: int = 200):
        self.set_status(status)
        self.render("book_form.html", values=values, errors=errors, editing=editing)

    def stock_seen(self) -> int | None:
        """The stock the edit form showed, so saving it can't undo sales made since."""
        try:
            return whole_number(self.get_body_argument("stock_seen", ""), 0, MAX_STOCK)
        except ValueError:
            return None


class AddBookHandler(BookFormHandler):
    @staff_only
    def get(self):
        self.show_form({}, {}, editing=False)

    @staff_only
    async def post(self):
        form = self.submitted()
        try:
            await self.services.catalog.add(form, self.current_user["email"])
        except ValidationError as exc:
            self.show_form(form, exc.errors, editing=False, status=400)
            return
        self.redirect(self.reverse_url("recommended"))


class EditBookHandler(BookFormHandler):
    @staff_only
    async def get(self, raw_isbn):
        book = await self.services.catalog.get_current(raw_isbn)
        self.show_form(form_values(book), {}, editing=True)

    @staff_only
    async def post(self, raw_isbn):
        book = await self.services.catalog.get_current(raw_isbn)
        form = self.submitted()
        try:
            await self.services.catalog.update(
                book["isbn"], form, self.current_user["email"], expected_stock=self.stock_seen()
            )
        except ValidationError as exc:
            if "stock" in exc.errors:
                # Saving again applies the number typed to the stock as it is now.
                form["stock_seen"] = str((await self.services.catalog.get_current(book["isbn"]))["stock"])
            self.show_form(form, exc.errors, editing=True, status=400)
            return
        self.redirect(self.reverse_url("recommended"))
