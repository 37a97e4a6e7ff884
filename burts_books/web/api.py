"""The JSON API for programs: the catalog, read-only."""

from ..infra.errors import NotFound
from ..infra.numbers import whole_number_or_invalid
from .base import JsonHandler
from .mixins import SearchMixin

MAX_API_PAGE_SIZE = 100


def book_json(book: dict) -> dict:
    return {
        "isbn": book["isbn"],
        "title": book["title"],
        "subtitle": book.get("subtitle", ""),
        "author": book["author"],
        "image": book.get("image"),
        "date_released": book.get("date_released", ""),
        "date_added": book["date_added"],
        "description": book.get("description", ""),
        "price_cents": book["price_cents"],
        "available": book["available"],
        "version": book["inventory_version"],
    }


class BooksApiHandler(SearchMixin, JsonHandler):
    async def get(self):
        query, page = self.search_arguments()
        size = whole_number_or_invalid(
            self.get_argument("size", str(self.shop_settings.page_size)), 1, MAX_API_PAGE_SIZE,
            f"size must be a whole number from 1 to {MAX_API_PAGE_SIZE}.",
        )
        result = await self.services.catalog.search(query, page, size)
        self.write_json(
            {
                "books": [book_json(b) for b in result.books],
                "query": result.query,
                "page": result.number,
                "pages": result.count,
                "size": result.size,
                "total": result.total,
            }
        )


class BookApiHandler(JsonHandler):
    async def get(self, raw_isbn):
        book = await self.services.catalog.get(raw_isbn)
        if book.get("withdrawn"):
            raise NotFound(f"The book with ISBN {book['isbn']} is no longer available.")
        self.write_json(book_json(book))
