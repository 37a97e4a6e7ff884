"""Pieces several handlers share, so handler modules never import each other."""

from typing import cast

import tornado.httputil
import tornado.web
from tornado.http1connection import HTTP1Connection

from ..accounts import known_as
from ..infra.errors import Invalid
from ..infra.numbers import whole_number_or_invalid
from ..inventory import MAX_STOCK, copies_text
from .base import BaseHandler

MAX_PAGE = 10_000
MAX_QUERY = 200
FLASH_COOKIE = "flash"
FLASH_SECONDS = 60
COPIES_MESSAGE = f"Give the number of copies that arrived: a whole number from 1 to {MAX_STOCK}."


class SearchMixin(BaseHandler):
    """`?q=` and `?page=` as the catalog page and the API read them."""

    def search_arguments(self) -> tuple[str, int]:
        query = self.get_argument("q", "").strip()
        if len(query) > MAX_QUERY:
            raise Invalid(f"Search for at most {MAX_QUERY} characters.")
        return query, self.page_argument()

    def page_argument(self) -> int:
        return whole_number_or_invalid(
            self.get_argument("page", "1"), 1, MAX_PAGE,
            f"The page must be a whole number from 1 to {MAX_PAGE:,}.",
        )



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


def take_upload(request: tornado.httputil.HTTPServerRequest, limit: int, timeout: float) -> None:
    """Let an upload form's body be up to `limit` bytes, arriving within `timeout` seconds.

    Raised for anyone who posts to one, staff or not: the handler reads the body of anyone else
    only to drop it, and refuses once it has arrived (its post is `staff_only`). A refusal sent
    before would have to drop the connection with the body unread, which resets it, and nginx
    answers its own 502 for that.
    """
    connection = cast(HTTP1Connection, request.connection)
    connection.set_max_body_size(limit)
    connection.set_body_timeout(timeout)


@tornado.web.stream_request_body
class StaffUpload(BaseHandler):
    """A staff form that may carry a file larger than the 1 MB every other request may send.

    The body is streamed (see `take_upload`), kept only from a staff member, and the XSRF
    token, which rides in it, is checked once it has arrived (`read_form`).
    """

    _body_arrived = False
    upload_timeout = 600.0  # seconds: what --body-timeout-seconds is for forms, for a file at 1 Mbit/s

    def upload_limit(self) -> int:
        raise NotImplementedError

    async def prepare(self):
        await super().prepare()
        self._upload = bytearray()
        if self.request.method == "POST":
            take_upload(self.request, self.upload_limit(), self.upload_timeout)

    def data_received(self, chunk: bytes) -> None:
        if self.is_staff:
            self._upload += chunk

    def check_xsrf_cookie(self) -> None:
        # Called before the body arrives (by Tornado) and again after it has (by read_form()).
        if self._body_arrived:
            super().check_xsrf_cookie()

    def read_form(self) -> None:
        """Parse the body that arrived (form fields and files), then check its XSRF token."""
        tornado.httputil.parse_body_arguments(
            self.request.headers.get("Content-Type", ""), bytes(self._upload),
            self.request.body_arguments, self.request.files)
        for name, values in self.request.body_arguments.items():
            self.request.arguments.setdefault(name, []).extend(values)
        self._body_arrived = True
        self.check_xsrf_cookie()

    def uploaded(self, name: str) -> bytes:
        """The file sent as `name`; empty when none was chosen."""
        files = self.request.files.get(name)
        return files[0]["body"] if files else b""


def restocked(copies: int, book: dict, state: dict) -> str:
    """What a restock from a staff page says it did."""
    return f"Restocked {copies_text(copies)} of “{book['title']}”: {state['available']} available now."


class RestockMixin(BaseHandler):
    async def restock(self, raw_isbn: str, raw_copies: object) -> tuple[int, dict]:
        """Add the copies that arrived; returns how many, and the book's new state. Invalid for a bad number."""
        book = await self.services.catalog.get_current(raw_isbn)
        copies = whole_number_or_invalid(raw_copies, 1, MAX_STOCK, COPIES_MESSAGE)
        state = await self.services.inventory.restock(book["isbn"], copies, known_as(self.current_user))
        if state is None:
            raise Invalid(f"A book can have at most {MAX_STOCK} copies in stock.")
        return copies, state
