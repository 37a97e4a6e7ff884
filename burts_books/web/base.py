"""What every handler shares: the signed-in user, Jinja2 rendering, errors, headers."""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import logging
import re
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import cachetools
import tornado.escape
import tornado.httputil
import tornado.web
from markupsafe import Markup

from .. import templating
from ..covers import cover_for
from ..infra import access_log
from ..infra.config import Settings
from ..infra.db import StoreWriteFailed
from ..infra.errors import Conflict, Invalid, NotAllowed, NotFound, NotSignedIn, ShopError, TooMany
from ..infra.numbers import LARGEST, whole_number
from ..services import Services
from ..visitors import Session
from .signed_cookies import CookieHeader

log = logging.getLogger(__name__)

SESSION_COOKIE = "session"
CART_COOKIE = "cart"
SESSION_DAYS = 30

# No 'unsafe-inline': what a UI module embeds (embedded_javascript/css) carries
# the response's nonce instead (render_embed_js / render_embed_css below).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' https: data:",
        "style-src 'self' 'nonce-{nonce}'",
        "script-src 'self' 'nonce-{nonce}'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)
# For static files, which run nothing inline: no nonce to make for each.
NOTHING_INLINE_POLICY = CONTENT_SECURITY_POLICY.replace(" 'nonce-{nonce}'", "")
# For JSON, which a browser never runs or styles: nothing at all, and in no frame (OWASP's REST list).
JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"

_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\\]")

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

XSRF_MESSAGE = "This form has expired or was sent from another site. Reload the page and try again."

# The one mapping from what the shop refuses to the HTTP status that says so.
STATUS_OF = (
    (NotSignedIn, 401), (NotAllowed, 403), (NotFound, 404), (Conflict, 409), (TooMany, 429), (Invalid, 400),
)


def status_of(error: ShopError) -> int:
    return next((status for kind, status in STATUS_OF if isinstance(error, kind)), 400)


PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
SERVER = "BurtsBooks"  # never the framework and its version


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


def json_text(data) -> str:
    return json.dumps(data, default=str, separators=(",", ":"))


def client_address(request: tornado.httputil.HTTPServerRequest) -> str:
    """The visitor's network address (from nginx's X-Real-IP under --xheaders): what limits count by."""
    return request.remote_ip or ""


# The headers every answer carries, and those only a document uses (left out of JSON answers, as
# in OWASP's list for REST services). Constants: they go in as they are, without the check Tornado's
# set_header makes of every value it is given (half of what these headers cost a request).
_ALWAYS_HEADERS = {"Server": SERVER, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
_DOCUMENT_HEADERS = {**_ALWAYS_HEADERS, "Referrer-Policy": "same-origin", "Permissions-Policy": PERMISSIONS_POLICY}


def set_security_headers(handler: tornado.web.RequestHandler, policy: str, *, document: bool = True) -> None:
    """The security headers of an answer, pages, JSON and static files alike, with its CSP `policy`."""
    headers = handler._headers
    for name, value in (_DOCUMENT_HEADERS if document else _ALWAYS_HEADERS).items():
        headers[name] = value
    handler.set_header("Content-Security-Policy", policy)
    handler.set_header(access_log.HEADER, request_id(handler))
    if handler.request.protocol == "https":
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"


def request_id(handler: tornado.web.RequestHandler) -> str:
    """The id of this request in the access log (nginx's under --xheaders)."""
    return access_log.request_id(handler.request, handler.settings["shop_settings"].xheaders)


class FilledPage(NamedTuple):
    """A shared page as filled in for a visitor state (render_shared), and what it stays right for."""

    pieces: tuple[bytes, ...]  # apart at the placeholders _personal fills
    books: tuple  # ((isbn, versions), ...): the state of each book its book parts show
    changes: int  # the catalog view's count of changes when it was filled in


class NotKept(tornado.web.RequestHandler):
    """Answers no shared or browser cache may keep (Cache-Control: no-store). Nothing revalidates
    them, so no ETag is worked out (a hash of every body) and no If-None-Match is parsed."""

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self) -> None:
        return None

    def check_etag_header(self) -> bool:
        return "Etag" in self._headers and super().check_etag_header()


class BaseHandler(NotKept):
    cart = None  # the visitor's open cart (carts.Cart), loaded by prepare()
    serves_pages = True  # HTML for browsers; JsonHandler's answers are JSON only

    @property
    def services(self) -> Services:
        return self.settings["services"]

    @property
    def shop_settings(self) -> Settings:
        return self.settings["shop_settings"]

    @property
    def client_address(self) -> str:
        return client_address(self.request)

    @property
    def is_staff(self) -> bool:
        return bool(self.current_user and self.current_user.get("staff"))

    csp_nonce = ""  # this answer's, for what a page runs inline: drawn afresh for every page (set_default_headers)

    def render_embed_js(self, js_embed) -> bytes:
        return f'<script nonce="{self.csp_nonce}">\n'.encode() + b"\n".join(js_embed) + b"\n</script>"

    def render_embed_css(self, css_embed) -> bytes:
        return f'<style nonce="{self.csp_nonce}">\n'.encode() + b"\n".join(css_embed) + b"\n</style>"

    def set_default_headers(self) -> None:
        if self.serves_pages:
            self.csp_nonce = secrets.token_urlsafe(16)
            set_security_headers(self, CONTENT_SECURITY_POLICY.format(nonce=self.csp_nonce))
        else:
            set_security_headers(self, JSON_POLICY, document=False)
        # Pages carry the visitor's session, cart, forms and XSRF token: no shared
        # or browser cache may keep them. (Static files are cached; see StaticFiles.)
        super().set_default_headers()

    def allow_forms_to(self, *urls: str) -> None:
        """Let this page's forms lead to these sites too, through the shop's redirect (browsers
        hold redirects after a form to form-action): linking a sign-in provider."""
        origins = sorted({f"{parts.scheme}://{parts.netloc}" for parts in map(urllib.parse.urlsplit, urls)})
        policy = CONTENT_SECURITY_POLICY.replace("form-action 'self'", " ".join(["form-action 'self'", *origins]))
        self.set_header("Content-Security-Policy", policy.format(nonce=self.csp_nonce))

    async def prepare(self) -> None:
        token = self.bearer_token()
        if token is None:
            self.current_user, self.cart = await self.services.visitors.find(self._session(), self.cart_cookie())
        else:
            self.current_user = await self.token_owner(token)
            self.cart = await self.services.carts.find(self.cart_cookie(), self.current_user)

    def bearer_token(self) -> str | None:
        """The token of an `Authorization: Bearer ...` header; None when the request sends none."""
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    async def token_owner(self, token: str) -> dict:
        """The owner of the API token a request sends.

        A request with a token is judged by the token alone. It skipped the XSRF
        check (see check_xsrf_cookie), so a wrong or revoked token is refused,
        never passed over for the cookies the browser sent along.
        """
        user = await self.services.api_tokens.owner_of(token)
        if user is None:
            raise NotSignedIn("This API token is wrong or has been revoked.")
        return user

    def _session(self) -> Session | None:
        """The account and session version the session cookie names, if it is valid and young enough."""
        value = self.get_signed_cookie(SESSION_COOKIE, max_age_days=SESSION_DAYS)
        if not value:
            return None
        user_id, _, raw_version = value.decode().partition(":")
        try:
            return user_id, whole_number(raw_version, 0, LARGEST)
        except ValueError:
            return None

    def set_cookie(self, name, value, *args, **kwargs) -> None:
        # Every cookie, Tornado's XSRF one included, is Secure when the shop is reached over HTTPS.
        if self.request.protocol == "https":
            kwargs.setdefault("secure", True)
        super().set_cookie(name, value, *args, **kwargs)

    @functools.cached_property
    def _cookie_header(self) -> CookieHeader:
        return self.settings["cookie_headers"].read(self.request.headers.get("Cookie", ""))

    def get_cookie(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        # From the header as parsed when the browser first sent it (signed_cookies.py): request.cookies
        # builds a Morsel for every cookie sent, on every request, to read two or three of them.
        return self._cookie_header.values.get(name, default)

    def get_signed_cookie(self, name, value=None, max_age_days=31, min_version=None):
        def check(raw: str) -> bytes | None:
            found = super(BaseHandler, self).get_signed_cookie(name, raw, max_age_days, min_version)
            # Secrets being rotated out still open the cookies they signed.
            for secret in self.shop_settings.previous_cookie_secrets:
                if found is not None:
                    break
                found = tornado.web.decode_signed_value(secret, name, raw, max_age_days, min_version=min_version)
            return found

        if value is not None:
            return check(value)
        return self._cookie_header.signed_value(name, max_age_days, min_version, check)

    def start_session(self, user: dict) -> None:
        self.set_signed_cookie(
            SESSION_COOKIE,
            f"{user['_id']}:{user['session_version']}",
            expires_days=SESSION_DAYS,
            httponly=True,
            samesite="Lax",
        )

    def cart_cookie(self) -> str | None:
        value = self.get_signed_cookie(CART_COOKIE, max_age_days=SESSION_DAYS)
        return value.decode() if value else None

    def remember_cart(self, cart_id: str) -> None:
        if cart_id != self.cart_cookie():
            self.set_signed_cookie(
                CART_COOKIE, cart_id, expires_days=SESSION_DAYS, httponly=True,
                samesite="Lax",
            )

    def check_xsrf_cookie(self) -> None:
        # A program with an API token is the one exemption: a browser adds no
        # Authorization header to a cross-site request (this shop allows no CORS),
        # and prepare() refuses the request unless its token is valid.
        if self.bearer_token() is not None:
            return
        try:
            super().check_xsrf_cookie()
        except tornado.web.HTTPError:
            raise tornado.web.HTTPError(403, XSRF_MESSAGE) from None

    def safe_next_url(self, default: str = "/") -> str:
        """The `next` argument if it stays on this site, else `default`."""
        target = self.get_argument("next", "")
        parts = urllib.parse.urlsplit(target)
        # Browsers read "//evil.example" and "/\\evil.example" as other sites, and drop
        # tabs and newlines first, so "/\t/evil.example" is one too.
        if (parts.scheme or parts.netloc or not target.startswith("/")
                or target.startswith("//") or _UNSAFE_IN_NEXT.search(target)):
            return default
        return target

    def absolute_url(self, path: str) -> str:
        """`path` on this shop as visitors reach it: under --public-url, else the request's own address."""
        base = self.shop_settings.public_url or f"{self.request.protocol}://{self.request.host}"
        return base + path

    def next_after_sign_in(self) -> str:
        """Where signing in leads back to: this page, or home after a form post."""
        return self.request.uri if self.request.method in ("GET", "HEAD") else "/"

    # -- rendering -------------------------------------------------------

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
        self._page_args = kwargs
        return super().render(template_name, **kwargs)

    def render_string(self, template_name: str, **kwargs) -> bytes:
        namespace = self.get_template_namespace()
        namespace.update(kwargs)
        return templating.render(self.settings["jinja"], template_name, namespace)

    # -- pages every visitor shares, but for their visitor parts -----------

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

    def cover_url(self, book: dict, width: int | None = None) -> str:
        """The address of a book's cover for `width` CSS pixels (see covers.cover_for); a local
        one through static_url, so a changed file gets a new address."""
        image = cover_for(book, width)
        return self.static_url(image.removeprefix("/static/")) if image.startswith("/static/") else image

    @functools.cached_property
    def cart_total_cents(self) -> int:
        """What the visitor's cart comes to, at the prices the catalog view holds (no database trip)."""
        if self.cart is None:
            return 0
        return sum(self.services.catalog_view.price_cents(isbn) * copies for isbn, copies in self.cart.holds.items())

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

    # -- errors ----------------------------------------------------------

    def wants_json(self) -> bool:
        if self.bearer_token() is not None:
            return True  # only programs send tokens
        accept = self.request.headers.get("Accept", "")
        return "application/json" in accept and "text/html" not in accept

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, ShopError):
            # Refusals are the shop working as designed: one line, no traceback.
            log.warning("%d %s: %s", status_of(value), self._request_summary(), value)
        else:
            super().log_exception(typ, value, tb)

    def error_message(self, status_code: int, exc_info) -> str:
        error = exc_info[1] if exc_info else None
        # Our 4xx messages are written for the user; 5xx details stay in the log.
        # get_message(): log_message doubles every "%" of a message given without args.
        if isinstance(error, (ShopError, StoreWriteFailed)):
            return str(error)
        if isinstance(error, tornado.web.HTTPError) and status_code < 500:
            return error.get_message() or http.client.responses.get(status_code, "Error")
        return http.client.responses.get(status_code, "Error")

    def write_error(self, status_code: int, **kwargs) -> None:
        self._shared_key = self._nobodys_parts = None  # an error page is nobody's shared page
        error = kwargs["exc_info"][1] if kwargs.get("exc_info") else None
        if isinstance(error, ShopError):
            status_code = status_of(error)
            self.set_status(status_code)
            if isinstance(error, TooMany):
                self.set_header("Retry-After", str(error.retry_after))
        elif isinstance(error, StoreWriteFailed):
            # The embedded store undid the change it could not keep: say so, and to try again.
            status_code = 503
            self.set_status(status_code)
            self.set_header("Retry-After", "5")
        message = self.error_message(status_code, kwargs.get("exc_info"))
        self.explain_status(status_code)
        if self.wants_json():
            self.write_json({"error": {"status": status_code, "message": message}})
            return
        self.render(
            "error.html",
            status_code=status_code,
            title=http.client.responses.get(status_code, "Error"),
            message=message,
            request_id=request_id(self),
        )

    def explain_status(self, status_code: int) -> None:
        """The headers HTTP asks of a 401 (how to authenticate) and a 405 (what is allowed)."""
        if status_code == 401:
            invalid = ' error="invalid_token"' if self.bearer_token() is not None else ""
            self.set_header("WWW-Authenticate", f'Bearer realm="Burt\'s Books"{invalid}')
        elif status_code == 405:
            self.set_header("Allow", ", ".join(allowed_methods(type(self))))

    def json_body(self) -> dict:
        try:
            body = json.loads(self.request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested past Python's stack
            raise Invalid("The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise Invalid("The body must be a JSON object.")
        return body

    def write_json(self, data) -> None:
        """Answer with `data` as JSON; bytes are JSON already (encoded once for many answers)."""
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(data if isinstance(data, bytes) else json_text(data))


def allowed_methods(handler_class: type[tornado.web.RequestHandler]) -> list[str]:
    """The HTTP methods a handler class answers: those it defines."""
    base = tornado.web.RequestHandler
    return [method for method in handler_class.SUPPORTED_METHODS
            if getattr(handler_class, method.lower()) is not getattr(base, method.lower())]


class JsonHandler(BaseHandler):
    """For programs: errors always come back as JSON."""

    serves_pages = False

    def wants_json(self) -> bool:
        return True


def signed_in(method):
    """Only for signed-in people: a browser is sent to sign in (and back), a program gets 401."""

    @functools.wraps(method)
    def wrapper(self: BaseHandler, *args, **kwargs):
        if not self.current_user:
            if self.wants_json():
                raise NotSignedIn("Sign in first.")
            query = urllib.parse.urlencode({"next": self.next_after_sign_in()})
            after_post = self.request.method not in ("GET", "HEAD")
            self.redirect(f"{self.get_login_url()}?{query}", status=303 if after_post else None)
            return None
        return method(self, *args, **kwargs)

    return wrapper


def staff_only(method):
    """Only for staff: signed in (see `signed_in`), and shoppers get 403."""

    @signed_in
    @functools.wraps(method)
    def wrapper(self: BaseHandler, *args, **kwargs):
        if not self.is_staff:
            raise NotAllowed("This page is for Burt's Books staff only.")
        return method(self, *args, **kwargs)

    return wrapper


STATIC_VERSION_LENGTH = 16  # hex digits of a static file's content hash in its address (?v=)


class StaticFiles(tornado.web.StaticFileHandler):
    """Static files with the shop's security headers; a path no file can have is a 404, not a 500."""

    # A page asks for the same few addresses (style sheets, scripts, covers) every time it is rendered:
    # each is worked out once (unless debug mode re-reads changed files, static_hash_cache off).
    _urls: cachetools.LRUCache = cachetools.LRUCache(maxsize=4096)

    @classmethod
    def make_static_url(cls, settings: dict, path: str, include_version: bool = True) -> str:
        if not settings.get("static_hash_cache", True):
            return super().make_static_url(settings, path, include_version)
        key = (settings.get("static_path"), settings.get("static_url_prefix"), path, include_version)
        url = cls._urls.get(key)
        if url is None:
            url = cls._urls[key] = super().make_static_url(settings, path, include_version)
        return url

    @classmethod
    def get_content_version(cls, abspath: str) -> str:
        # Tornado's is a whole SHA-512 in hex, 128 characters, three times in every cover: a
        # listing of twelve books carried 5 KB of them. 64 bits tell one version from the next.
        return super().get_content_version(abspath)[:STATIC_VERSION_LENGTH]

    def set_default_headers(self) -> None:
        set_security_headers(self, NOTHING_INLINE_POLICY)

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if "\x00" in absolute_path:
            raise tornado.web.HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)


class CoverFiles(StaticFiles):
    """Uploaded covers, from the data folder (nginx serves them itself in production).

    A cover's name is its content's hash, so it never changes meaning: browsers keep it for a year.
    """

    def initialize(self) -> None:  # type: ignore[override]
        super().initialize(path=str(self.settings["shop_settings"].covers_dir))

    def get_cache_time(self, path: str, modified, mime_type: str) -> int:
        return self.CACHE_MAX_AGE

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", f"public, max-age={self.CACHE_MAX_AGE}, immutable")
