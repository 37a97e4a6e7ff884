"""Staff restock a book: a form on the edit page, and a JSON call."""

import tornado.web

from ..inventory import MAX_STOCK
from .base import BaseHandler, JsonHandler, staff_only

COPIES_MESSAGE = f"Give the number of copies that arrived: a whole number from 1 to {MAX_STOCK}."


def copies_from(raw) -> int:
    if isinstance(raw, int) and not isinstance(raw, bool):
        copies = raw
    # Length bounded before int(), which raises past 4300 digits.
    elif isinstance(raw, str) and raw.strip().isdecimal() and len(raw.strip()) <= 9:
        copies = int(raw)
    else:
        raise tornado.web.HTTPError(400, COPIES_MESSAGE)
    if not 1 <= copies <= MAX_STOCK:
        raise tornado.web.HTTPError(400, COPIES_MESSAGE)
    return copies


async def restock(handler: BaseHandler, raw_isbn: str, raw_copies) -> dict:
    book = await handler.book_or_404(raw_isbn)
    state = await handler.services.inventory.restock(book["isbn"], copies_from(raw_copies))
    if state is None:
        raise tornado.web.HTTPError(400, f"A book can have at most {MAX_STOCK} copies in stock.")
    return state


class RestockHandler(BaseHandler):
    @staff_only
    async def post(self, raw_isbn):
        state = await restock(self, raw_isbn, self.get_body_argument("copies", ""))
        self.redirect(self.reverse_url("edit_book", state["isbn"]), status=303)


class RestockApiHandler(JsonHandler):
    async def post(self, raw_isbn):
        if not self.current_user:
            raise tornado.web.HTTPError(401, "Sign in as staff to restock.")
        if not self.is_staff:
            raise tornado.web.HTTPError(403, "Only Burt's Books staff can restock.")
        self.write_json({"book": await restock(self, raw_isbn, self.json_body().get("copies"))})
