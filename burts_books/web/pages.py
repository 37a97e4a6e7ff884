"""What shoppers browse: home, recommended reading, the catalog, a book."""

from ..errors import NotFound
from .base import BaseHandler
from .mixins import BookPageMixin, SearchMixin

NEW_ARRIVALS = 4
RECOMMENDED = 24


class HomeHandler(BaseHandler):
    async def get(self):
        books = await self.services.catalog.newest(NEW_ARRIVALS)
        self.render("index.html", books=books)


class RecommendedHandler(BaseHandler):
    async def get(self):
        books = await self.services.catalog.newest(RECOMMENDED)
        self.render("recommended.html", books=books)


class CatalogHandler(SearchMixin, BaseHandler):
    async def get(self):
        query, page = self.search_arguments()
        size = self.shop_settings.page_size
        result = await self.services.catalog.search(query, page, size)
        self.render("catalog.html", page=result, query=query)


class BookHandler(BookPageMixin, BaseHandler):
    async def get(self, raw_isbn):
        book = await self.services.catalog.get(raw_isbn)
        if raw_isbn != book["isbn"]:
            # One address per book: ISBN-10s and hyphenated forms lead to the ISBN-13 one.
            self.redirect(self.reverse_url("book", book["isbn"]), permanent=True)
            return
        self.show_book(book)


class NotFoundHandler(BaseHandler):
    def wants_json(self) -> bool:
        # A program that mistypes an API address still gets the API's JSON error.
        return self.request.path.startswith("/api/") or super().wants_json()

    async def prepare(self):
        await super().prepare()
        raise NotFound("There is no page at this address.")
