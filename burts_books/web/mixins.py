"""Pieces several handlers share, so handler modules never import each other."""

from ..infra.errors import Invalid
from ..infra.numbers import whole_number
from .base import BaseHandler

MAX_PAGE = 10_000
MAX_QUERY = 200
FLASH_COOKIE = "flash"
FLASH_SECONDS = 60


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



class FlashMixin(BaseHandler):
    """What a staff action did, said on the page it leads to: a signed cookie that lives a minute, read once.

    Pages that show it call `take_flash()` from their template (templates/staff/flash.html);
    shared pages never do, so no visitor's message ends up in a page kept for all.
    """

    def done(self, message: str, url: str) -> None:
        """End an action: say what happened on the page at `url`."""
        self.set_signed_cookie(FLASH_COOKIE, message, expires_days=None, httponly=True, samesite="Lax")
        self.redirect(url, status=303)

    def take_flash(self) -> str:
        if not self.get_cookie(FLASH_COOKIE):
            return ""
        value = self.get_signed_cookie(FLASH_COOKIE, max_age_days=FLASH_SECONDS / 86400)
        self.clear_cookie(FLASH_COOKIE)
        return value.decode() if value else ""

    def get_template_namespace(self) -> dict:
        return {**super().get_template_namespace(), "take_flash": self.take_flash}
