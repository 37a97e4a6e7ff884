"""What shoppers browse: home, recommended reading, the catalog, a book."""

import tornado.web

from .base import BaseHandler

NEW_ARRIVALS = 4
RECOMMENDED = 24
MAX_PAGE = 10_000
MAX_QUERY = 200


class PagingMixin:
    def search_arguments(self) -> tuple[str, int]:
        query = self.get_argument("q", "").strip()
        if len(query) > MAX_QUERY:
            raise tornado.web.HTTPError(400, f"Search for at most {MAX_QUERY} characters.")
        raw_page = self.get_argument("page", "1")
        # isdecimal, not isdigit: int() refuses digits like "²" that isdigit accepts,
        # and (ValueError, so a 500) more than 4300 digits: bound the length first.
        if not raw_page.isdecimal() or len(raw_page) > 9 or not 1 <= int(raw_page) <= MAX_PAGE:
            raise tornado.web.HTTPError(400, "The page must be a whole number from 1 up.")
        return query, int(raw_page)


class HomeHandler(BaseHandler):
    async def get(self):
        books = await self.services.catalog.newest(NEW_ARRIVALS)
        self.render("index.html", books=books)


class RecommendedHandler(BaseHandler):
    async def get(self):
        books = await self.services.catalog.newest(RECOMMENDED)
        self.render("recommended.html", books=books)


class CatalogHandler(PagingMixin, BaseHandler):
    async def get(self):
        query, page = self.search_arguments()
        size = self.application.shop_settings.page_size
        result = await self.services.catalog.search(query, page, size)
        self.render("catalog.html", page=result, query=query)


class BookHandler(BaseHandler):
    async def get(self, raw_isbn):
        book = await self.book_or_404(raw_isbn)
        if raw_isbn != book["isbn"]:
            # One address per book: ISBN-10s and hyphenated forms lead to the ISBN-13 one.
            self.redirect(self.reverse_url("book", book["isbn"]), permanent=True)
            return
        show_book(self, book)


def show_book(handler: BaseHandler, book: dict, message: str = "") -> None:
    """The book page; `message` tells the shopper why their cart click did nothing."""
    in_cart = handler.cart.quantity(book["isbn"]) if handler.cart else 0
    handler.render("book.html", book=book, in_cart=in_cart, message=message)


class NotFoundHandler(BaseHandler):
    def wants_json(self) -> bool:
        # A program that mistypes an API address still gets the API's JSON error.
        return self.request.path.startswith("/api/") or super().wants_json()

    async def prepare(self):
        await super().prepare()
        raise tornado.web.HTTPError(404, "There is no page at this address.")
