"""Staff restock a book: a form on the edit page, and a JSON call."""

from ..infra.errors import Invalid
from ..infra.numbers import whole_number
from ..inventory import MAX_STOCK
from .base import BaseHandler, JsonHandler, staff_only

COPIES_MESSAGE = f"Give the number of copies that arrived: a whole number from 1 to {MAX_STOCK}."


class RestockMixin(BaseHandler):
    async def restock(self, raw_isbn: str, raw_copies: object) -> dict:
        """Add the copies that arrived; returns the book's new state."""
        book = await self.services.catalog.get(raw_isbn)
        try:
            copies = whole_number(raw_copies, 1, MAX_STOCK)
        except ValueError:
            raise Invalid(COPIES_MESSAGE) from None
        state = await self.services.inventory.restock(book["isbn"], copies, self.current_user["email"])
        if state is None:
            raise Invalid(f"A book can have at most {MAX_STOCK} copies in stock.")
        return state


class RestockHandler(RestockMixin, BaseHandler):
    @staff_only
    async def post(self, raw_isbn):
        state = await self.restock(raw_isbn, self.get_body_argument("copies", ""))
        self.redirect(self.reverse_url("edit_book", state["isbn"]), status=303)


class RestockApiHandler(RestockMixin, JsonHandler):
    @staff_only
    async def post(self, raw_isbn):
        self.write_json({"book": await self.restock(raw_isbn, self.json_body().get("copies"))})
