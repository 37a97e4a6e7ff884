"""Stock for staff programs, the JSON calls: restock a book, and read what the staff stock page shows
of some books (its script reads it when the shoppers' feed says one changed: the feed carries no
stock on hand). The pages' forms are in web/staff/."""

from ..infra.errors import Invalid
from .base import JsonHandler, staff_only
from .live import MAX_ISBNS, distinct_isbns
from .mixins import RestockMixin


class RestockApiHandler(RestockMixin, JsonHandler):
    @staff_only
    async def post(self, raw_isbn):
        _, state = await self.restock(raw_isbn, self.json_body().get("copies"))
        self.write_json({"book": state})


def stock_json(row: dict) -> dict:
    return {"isbn": row["isbn"], "title": row["title"], "stock": row["stock"], "available": row["available"],
            "held": row["held"], "sold": row["sold"], "version": row["inventory_version"]}


class StockApiHandler(JsonHandler):
    """GET /api/stock?isbn=A&isbn=B: each book's stock on hand, copies available and held in carts,
    and copies sold in the last 30 days, in the order asked."""

    @staff_only
    async def get(self):
        raws = self.get_query_arguments("isbn")
        if not raws:
            raise Invalid("Say which books: ?isbn=...&isbn=...")
        isbns = distinct_isbns(raws, f"Ask for at most {MAX_ISBNS} books at a time.")
        rows = await self.services.stock_report.rows(isbns)
        self.write_json({"books": [stock_json(row) for row in rows]})
