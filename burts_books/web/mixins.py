"""Pieces several handlers share, so handler modules never import each other."""

from ..infra.errors import Invalid
from ..infra.numbers import whole_number
from .base import BaseHandler

MAX_PAGE = 10_000
MAX_QUERY = 200


class SearchMixin(BaseHandler):
    """`?q=` and `?page=` as the catalog page and the API read them."""

    def search_arguments(self) -> tuple[str, int]:
        query = self.get_argument("q", "").strip()
        if len(query) > MAX_QUERY:
            raise Invalid(f"Search for at most {MAX_QUERY} characters.")
        try:
            page = whole_number(self.get_argument("page", "1"), 1, MAX_PAGE)
        except ValueError:
            raise Invalid("The page must be a whole number from 1 up.") from None
        return query, page

