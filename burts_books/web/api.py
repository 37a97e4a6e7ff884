"""The JSON API for programs: the catalog, read-only."""

import tornado.web

from .base import JsonHandler
from .pages import PagingMixin

MAX_API_PAGE_SIZE = 100


def book_json(book: dict) -> dict:
    return {
        "isbn": book["isbn"],
        "title": book["title"],
        "subtitle": book.get("subtitle", ""),
        "author": book["author"],
        "image": book.get("image"),
        "date_released": book.get("date_released", ""),
        "date_added": book["date_added"].isoformat() + "Z",
        "description": book.get("description", ""),
        "price_cents": book["price_cents"],
        "available": book["available"],
        "version": book["inventory_version"],
    }


class BooksApiHandler(PagingMixin, JsonHandler):
    async def get(self):
        query, page = self.search_arguments()
        size = self.get_argument("size", str(self.application.shop_settings.page_size))
        if not size.isdecimal() or len(size) > 9 or not 1 <= int(size) <= MAX_API_PAGE_SIZE:
            raise tornado.web.HTTPError(400, f"size must be a whole number from 1 to {MAX_API_PAGE_SIZE}.")
        result = await self.services.catalog.search(query, page, int(size))
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
        self.write_json(book_json(await self.book_or_404(raw_isbn)))
