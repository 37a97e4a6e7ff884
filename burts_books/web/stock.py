"""Staff restock a book from a program: the JSON call. (The pages' forms are in web/staff/.)"""

from .base import JsonHandler, staff_only
from .mixins import RestockMixin


class RestockApiHandler(RestockMixin, JsonHandler):
    @staff_only
    async def post(self, raw_isbn):
        _, state = await self.restock(raw_isbn, self.json_body().get("copies"))
        self.write_json({"book": state})
