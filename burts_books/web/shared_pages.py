"""Pages rendered once and kept, with a slot for each visitor part that every request fills in.

Most of a page is the same for every visitor; what shows who is visiting (the cart badge, the
account area, a book's stock line with the visitor's copies) is a visitor part (templates/parts/).
`render_shared` renders a page once into a skeleton with a slot for each part and keeps it; a
request fills the slots in for its visitor, and the page as filled in is kept per visitor state.
Nothing kept holds the visitor's XSRF field or the answer's CSP nonce: placeholders stand for
them, put in for each answer (`apart_at_placeholders`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NamedTuple

import tornado.escape
import tornado.web
from markupsafe import Markup

from .. import templating

if TYPE_CHECKING:
    from ..carts import Cart
    from ..infra.config import Settings
    from ..services import Services

PART_ARGUMENT = "|"  # between a visitor part's template and its ISBN in a slot
# Where a kept page or part takes the visitor's XSRF field and the response's CSP nonce.
XSRF_FIELD = templating.SLOT + "xsrf" + templating.SLOT
NONCE = templating.SLOT.strip("\x00") + "nonce"
# Where a visitor part's sign-in link takes the address to lead back to: the part then reads nothing
# of the request and is kept once for every page, not once per address (see _part).
RETURN_TO = templating.SLOT.strip("\x00") + "return-to"
_XSRF_FIELD_BYTES, _NONCE_BYTES = XSRF_FIELD.encode(), NONCE.encode()
# What visitor parts see of the signed-in person (their name in the header, their email on a form).
PART_USER_FIELDS = ("_id", "email", "name", "staff")


def part_user(user: dict | None) -> dict | None:
    return {field: user.get(field) for field in PART_USER_FIELDS} if user is not None else None


def _xsrf_placeholder() -> Markup:
    return Markup(XSRF_FIELD)


def apart_at_placeholders(page: bytes) -> tuple[bytes, ...]:
    """`page` as (text, placeholder, text, ...): each answer then puts its XSRF field and nonce in
    with one join, where replacing them searched the whole page once for each (30-40 us a page)."""
    pieces: list[bytes] = []
    for text in page.split(_XSRF_FIELD_BYTES):
        for rest in text.split(_NONCE_BYTES):
            pieces += (rest, _NONCE_BYTES)
        pieces[-1] = _XSRF_FIELD_BYTES  # what ended this text: an XSRF field, not a nonce
    pieces.pop()  # the page's end, which no placeholder follows
    return tuple(pieces)


class FilledPage(NamedTuple):
    """A shared page as filled in for a visitor state (render_shared), and what it stays right for."""

    pieces: tuple[bytes, ...]  # apart at the placeholders _personal fills
    books: tuple  # ((isbn, versions), ...): the state of each book its book parts show
    changes: int  # the catalog view's count of changes when it was filled in


class SharedPageRendering(tornado.web.RequestHandler):
    """Jinja2 rendering for a handler, and pages every visitor shares but for their visitor parts.

    BaseHandler brings what it reads of the visitor and the shop (declared below for the type checker).
    """

    if TYPE_CHECKING:
        cart: Cart | None
        csp_nonce: str

        @property
        def services(self) -> Services: ...

        @property
        def shop_settings(self) -> Settings: ...

        @property
        def is_staff(self) -> bool: ...

        @property
        def cart_total_cents(self) -> int: ...

        def cover_url(self, book: dict, width: int | None = None) -> str: ...

        def next_after_sign_in(self) -> str: ...

    def get_template_namespace(self) -> dict:
        namespace = super().get_template_namespace()
        namespace.update(
            modules=templating.ModuleNamespace(namespace["modules"]),
            xsrf_form_html=self._xsrf_field,
            visitor_part=self.visitor_part,
            cover_url=self.cover_url,
            is_staff=self.is_staff,
            cart=self.cart,
            settings=self.shop_settings,
        )
        if self._shared_key is not None:
            # What only a visitor part may show; a shared region rendering it would give it away.
            namespace.update(current_user=None, cart=None)
        return namespace

    def render(self, template_name: str, **kwargs):
        if self._shared_key is None:  # a shared page's parts see its part_args only (render_shared)
            self._page_args = kwargs
        return super().render(template_name, **kwargs)

    def render_string(self, template_name: str, **kwargs) -> bytes:
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        return templating.render(self.settings["jinja"], template_name, namespace)

    _shared_key: tuple | None = None  # set while rendering a shared page to keep
    _page_args: dict | None = None  # what the page was rendered with, for its visitor parts
    _nobodys_parts: tuple | None = None  # the key of this page's parts as kept for nobody in particular

    async def render_shared(self, template_name: str, depends_on: tuple,
                            page_args: Callable[[], Awaitable[dict]] | None = None,
                            parts_depend_on: tuple | None = None, **part_args) -> None:
        """render(), for a page that is the same for every visitor except its visitor parts.

        The page is rendered once per `depends_on` (the versions of what it
        shows and the arguments it reads), path, search box text, locale and
        staff-or-not, kept with a slot for each
        visitor part, and every request fills the slots in for its visitor:
        a few small templates instead of the whole page. `page_args()` gives
        what only the kept page shows (a search's results): it is computed only
        when the page is rendered; `part_args` go to the page and its parts.
        `parts_depend_on` is everything the visitor parts read from `part_args`
        (nothing when there are none): then the page as filled in is kept too, per
        visitor state (see _visitor_state), with the state of each book part it shows,
        and a request that finds it with those books unchanged only puts in its XSRF
        field and nonce.
        """
        self._page_args = part_args
        # Not the raw address: made-up query arguments must not each render and keep a page.
        key = (template_name, self.request.path, self.get_argument("q", ""), self.locale.code, self.is_staff,
               *depends_on)
        if not part_args:
            parts_depend_on = ()
        filled_key = None
        if parts_depend_on is not None:
            if self.current_user is None and self.cart is None:
                self._nobodys_parts = (key, parts_depend_on, self.request.uri)
            filled_key = (key, parts_depend_on, self.request.uri, self._visitor_state())
            kept = self.settings["filled_pages"].get(filled_key)
            if kept is not None and self._books_unchanged(kept):
                self.finish(self._personal(kept.pieces))
                return
        skeleton = self.settings["pages"].get(key)
        if skeleton is not None:
            changes = self.services.catalog_view.changes  # as of the books' states _filled reads
            page, books = self._filled(skeleton)
            if filled_key is not None:
                with contextlib.suppress(ValueError):  # bigger than the whole cache
                    self.settings["filled_pages"][filled_key] = FilledPage(page, books, changes)
            self.finish(self._personal(page))
            return
        shown = await page_args() if page_args is not None else {}
        self._shared_key = key
        self.render(template_name, **part_args, **shown)

    def _books_unchanged(self, kept: FilledPage) -> bool:
        """Whether every book a kept page shows is in the state it was kept with: at once while no
        book at all has changed since, else book by book."""
        view = self.services.catalog_view
        return view.changes == kept.changes or all(view.versions(isbn) == state for isbn, state in kept.books)

    def _visitor_state(self) -> tuple | None:
        """All that visitor parts can show of this visitor (see _part_namespace); None for nobody yet."""
        if self.current_user is None and self.cart is None:
            return None
        user = self.current_user and tuple(self.current_user.get(field) for field in PART_USER_FIELDS)
        return user, self.is_staff, self.cart and self.cart.fingerprint, self.cart_total_cents

    def visitor_part(self, template_name: str, isbn: str = "") -> Markup:
        """A part of a page that shows who is visiting (templates/parts/), or a book as of this
        request (`isbn`: see _book_part): a slot in a shared page."""
        if self._shared_key is not None:
            return Markup(f"{templating.SLOT}{template_name}{PART_ARGUMENT}{isbn}{templating.SLOT}")
        return Markup(self._personal(apart_at_placeholders(self._part(template_name, isbn).encode())).decode())

    def _part(self, template_name: str, isbn: str) -> str:
        """A visitor part with placeholders for the visitor's XSRF field and the response's nonce,
        and its sign-in link's way back (RETURN_TO) put in for this page."""
        if isbn:
            return self._book_part(template_name, isbn, self.services.catalog_view.versions(isbn))
        if self._nobodys_parts is not None:
            html = self._nobodys_part(template_name, self._nobodys_parts)
        else:
            html = self._render_part(template_name)
        if RETURN_TO in html:
            html = html.replace(RETURN_TO, tornado.escape.url_escape(self.next_after_sign_in()))
        return html

    def _render_part(self, template_name: str) -> str:
        template = self.settings["jinja"].get_template(template_name)
        return template.render({**self._part_namespace(), **(self._page_args or {})})

    def _nobodys_part(self, template_name: str, page: tuple) -> str:
        """A visitor part as a visitor neither signed in nor with a cart sees it: kept with what it
        reads of the page. One that reads the page's arguments or the request (or may: it includes
        others) is kept per page state and address; any other, once for every page: it reads nothing
        that differs (a sign-in link's way back is put in after, see _part)."""
        reads = templating.names_read(self.settings["jinja"].get_template(template_name))
        if reads is None or reads & {"handler", "request", *(self._page_args or ())}:
            scope = page
        else:
            scope = (self.locale.code,)
        key = ("nobody", template_name, *scope)
        fragments = self.settings["fragments"]
        html = fragments.get(key)
        if html is None:
            html = fragments[key] = self._render_part(template_name)
        return html

    def _book_part(self, template_name: str, isbn: str, versions: tuple[int, int] | None) -> str:
        """A part showing a book's stock as of this request (the book's `versions` now): one for every
        book of a listing, so it is kept (with the fragments) for each state of the book."""
        if versions is None:
            return ""  # gone since the page was kept; the next request renders it anew
        key = (template_name, isbn, *versions)
        fragments = self.settings["fragments"]
        html = fragments.get(key)
        if html is None:  # only then the book is copied out of the view
            book = self.services.catalog_view.get(isbn) or {}  # there: versions() found it, with no await since
            html = fragments[key] = self.settings["jinja"].get_template(template_name).render(
                book=book, xsrf_field=Markup(XSRF_FIELD), nonce=NONCE, cart_url=self.reverse_url("cart"),
                settings=self.shop_settings,
                book_url=self.reverse_url("book", isbn), cover=self.cover_url(book))
        return html

    def _personal(self, page: tuple[bytes, ...]) -> bytes:
        """A page or part (apart_at_placeholders) with this visitor's XSRF field and this response's nonce in."""
        if len(page) == 1:
            return page[0]
        placeholders = page[1::2]
        xsrf = self.xsrf_form_html().encode() if _XSRF_FIELD_BYTES in placeholders else b""
        nonce = self.csp_nonce.encode() if _NONCE_BYTES in placeholders else b""
        filled = list(page)
        filled[1::2] = [xsrf if placeholder == _XSRF_FIELD_BYTES else nonce for placeholder in placeholders]
        return b"".join(filled)

    def _part_namespace(self) -> dict:
        # The visitor only as _visitor_state sees them: a kept filled-in page shows nothing else of them.
        return {
            "handler": self, "request": self.request, "reverse_url": self.reverse_url,
            "static_url": self.static_url, "xsrf_form_html": _xsrf_placeholder, "locale": self.locale,
            "current_user": part_user(self.current_user), "is_staff": self.is_staff, "cart": self.cart,
            "cart_total_cents": self.cart_total_cents, "settings": self.shop_settings,
            "return_to": Markup(RETURN_TO),
        }

    def _xsrf_field(self) -> Markup:
        return _xsrf_placeholder() if self._shared_key else Markup(self.xsrf_form_html())

    def _filled(self, skeleton: list[bytes]) -> tuple[tuple[bytes, ...], tuple]:
        """A kept page with its visitor parts in, apart at the placeholders _personal fills; and the
        state of each book its book parts show ((isbn, versions), ...), which it stays right for."""
        pieces, books = [], []
        for position, piece in enumerate(skeleton):
            if position % 2 == 0:
                pieces.append(piece)
                continue
            template_name, isbn = piece.decode().split(PART_ARGUMENT)
            if isbn:  # the state the part is rendered from is the one the page is kept for
                versions = self.services.catalog_view.versions(isbn)
                books.append((isbn, versions))
                pieces.append(self._book_part(template_name, isbn, versions).encode())
            else:
                pieces.append(self._part(template_name, isbn).encode())
        return apart_at_placeholders(b"".join(pieces)), tuple(books)

    def finish(self, chunk=None):
        if self._shared_key is not None and chunk is not None:
            key, self._shared_key = self._shared_key, None
            if self.get_status() == 200:
                skeleton = templating.slots(chunk)
                with contextlib.suppress(ValueError):  # a page bigger than the whole cache is not kept
                    self.settings["pages"][key] = skeleton
                chunk = self._personal(self._filled(skeleton)[0])
        return super().finish(chunk)
