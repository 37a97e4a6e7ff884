"""Stock at a glance: titles by what needs attention, restocked inline, kept live by the shoppers' feed."""

from ...infra.errors import Invalid
from ..base import staff_only
from ..mixins import FlashMixin, RestockMixin, SearchMixin, restocked


class StockHandler(RestockMixin, SearchMixin, FlashMixin):
    async def show(self, page: int, status: int = 200, error_isbn: str = "", error: str = "") -> None:
        threshold = self.shop_settings.low_stock_threshold
        report = await self.services.stock_report.page(threshold, page)
        self.set_status(status)
        self.render("staff/stock.html", report=report, threshold=threshold, error_isbn=error_isbn, error=error)

    @staff_only
    async def get(self):
        await self.show(self.page_argument())

    @staff_only
    async def post(self):
        """A row's restock form; a bad number is shown on that row."""
        isbn, page = self.get_body_argument("isbn", ""), self.page_argument()
        book = await self.services.catalog.get_current(isbn)
        try:
            copies, state = await self.restock(book["isbn"], self.get_body_argument("copies", ""))
        except Invalid as exc:
            await self.show(page, status=400, error_isbn=book["isbn"], error=str(exc))
            return
        self.done(restocked(copies, book, state),
                  f"{self.reverse_url('staff_stock')}?page={page}#stock-{book['isbn']}")
