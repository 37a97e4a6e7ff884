"""What shoppers browse: home, recommended reading, the catalog, a book."""

from ..infra.errors import NotFound
from .base import BaseHandler
from .mixins import SearchMixin

NEW_ARRIVALS = 4
# A dozen, newest first: a list a shopper reads through, and the twelve books the speed issue's
# references draw (tests/benchmarks/reference_books.py).
RECOMMENDED = 12


class HomeHandler(BaseHandler):
    async def get(self):
        async def shown():
            return {"books": await self.services.catalog.newest(NEW_ARRIVALS)}

        await self.render_shared("index.html", (self.services.catalog_view.version,), shown)

    head = get


class RecommendedHandler(BaseHandler):
    async def get(self):
        async def shown():
            return {"books": await self.services.catalog.newest(RECOMMENDED)}

        await self.render_shared("recommended.html", (self.services.catalog_view.version,), shown)

    head = get


class CatalogHandler(SearchMixin, BaseHandler):
    async def get(self):
        query, page = self.search_arguments()
        sort = self.get_argument("sort", "") or None

        async def shown():
            result = await self.services.catalog.search(query, page, self.shop_settings.page_size, sort)
            if result.past_the_end:
                raise NotFound(f"There is no page {page}: this list has {result.count}.")
            return {"page": result, "query": query}

        await self.render_shared("catalog.html", (self.services.catalog_view.version, page, sort), shown)

    head = get


class BookHandler(BaseHandler):
    async def get(self, raw_isbn):
        book = await self.services.catalog.get(raw_isbn)
        if raw_isbn != book["isbn"]:
            # One address per book: ISBN-10s and hyphenated forms lead to the ISBN-13 one.
            self.redirect(self.reverse_url("book", book["isbn"]), permanent=True)
            return
        # The stock line is a visitor part (it shows their cart): only the book's fields shape the rest.
        await self.render_shared("book.html", (book.get("catalog_version", 0),), book=book, message="",
                                 parts_depend_on=(book["inventory_version"],))

    head = get


class NotFoundHandler(BaseHandler):
    accepts_tokens = True  # a program that mistypes an API address is told so, as anyone is
    def wants_json(self) -> bool:
        # A program that mistypes an API address still gets the API's JSON error.
        return self.request.path.startswith("/api/") or super().wants_json()

    async def prepare(self):
        await super().prepare()
        raise NotFound("There is no page at this address.")
