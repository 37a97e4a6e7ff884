"""What every handler shares: the signed-in user, sessions and cookies, errors, headers (rendering: shared_pages)."""

from __future__ import annotations

import datetime
import functools
import http.client
import json
import logging
import re
import secrets
import urllib.parse

import tornado.escape
import tornado.httputil
import tornado.web

from ..covers import cover_for
from ..infra import access_log
from ..infra.clock import iso_utc
from ..infra.config import Settings
from ..infra.db import StoreWriteFailed
from ..infra.errors import (
    Conflict,
    Invalid,
    NotAllowed,
    NotFound,
    NotSignedIn,
    ShopError,
    TooMany,
    ValidationError,
)
from ..infra.numbers import LARGEST, whole_number
from ..services import Services
from ..visitors import Session
from .shared_pages import SharedPageRendering
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


XSRF_MESSAGE = "This form has expired or was sent from another site. Reload the page and try again."
# Where links may point without --public-url: names that only ever mean the machine they are typed on.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
NO_PUBLIC_URL = (
    "This shop makes links only to its own address, and this request was sent to another one "
    "(its operator sets that address with --public-url). Visit the shop at its address and try again."
)

# The one mapping from what the shop refuses to the HTTP status that says so.
STATUS_OF = (
    (NotSignedIn, 401), (NotAllowed, 403), (NotFound, 404), (Conflict, 409), (TooMany, 429), (Invalid, 400),
)


def status_of(error: ShopError) -> int:
    return next((status for kind, status in STATUS_OF if isinstance(error, kind)), 400)


PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
SERVER = "BurtsBooks"  # never the framework and its version


def _json_value(value) -> str:
    """What JSON cannot hold as it is: our dates as ISO 8601 marked UTC, anything else as its text."""
    return iso_utc(value) if isinstance(value, datetime.datetime) else str(value)


def json_text(data) -> str:
    return json.dumps(data, default=_json_value, separators=(",", ":"))


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


class NotKept(tornado.web.RequestHandler):
    """Answers no shared or browser cache may keep (Cache-Control: no-store). Nothing revalidates
    them, so no ETag is worked out (a hash of every body) and no If-None-Match is parsed."""

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def compute_etag(self) -> None:
        return None

    def check_etag_header(self) -> bool:
        return "Etag" in self._headers and super().check_etag_header()


class BaseHandler(SharedPageRendering, NotKept):
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
        # or browser cache may keep them. (Static files are cached; see static_files.)
        super().set_default_headers()

    def allow_forms_to(self, *urls: str) -> None:
        """Let this page's forms lead to these sites too, through the shop's redirect (browsers
        hold redirects after a form to form-action): linking a sign-in provider."""
        origins = sorted({f"{parts.scheme}://{parts.netloc}" for parts in map(urllib.parse.urlsplit, urls)})
        policy = CONTENT_SECURITY_POLICY.replace("form-action 'self'", " ".join(["form-action 'self'", *origins]))
        self.set_header("Content-Security-Policy", policy.format(nonce=self.csp_nonce))

    # Whether a program may call this handler with an API token (the JSON API, the cart): not the pages
    # a person manages the account on, where a leaked token could make itself tokens that outlive its
    # revocation, or grant roles.
    accepts_tokens = False

    async def prepare(self) -> None:
        token = self.bearer_token()
        if token is None:
            self.current_user, self.cart = await self.services.visitors.find(self._session(), self.cart_cookie())
        else:
            self.current_user = await self.token_owner(token)
            if not self.accepts_tokens:
                raise NotAllowed("An API token is for the JSON API and the cart: this page is for a person "
                                 "signed in in a browser.")
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
        # Nothing here answers this method, so nothing can act on it: the caller is told so (405, with
        # what is allowed; 404 where no page is), not that a form's token is missing.
        if self.request.method not in allowed_methods(type(self)):
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

    def shop_url(self) -> str:
        """This shop's address as visitors reach it, for links that leave the page (mail, OAuth redirects):
        --public-url; without it, the request's own address only when that is this machine (the embedded
        default tried on localhost). Any other Host header is the sender's to choose, so it is refused (421)."""
        if self.shop_settings.public_url:
            return self.shop_settings.public_url
        if self.request.host_name.strip("[]") not in LOOPBACK_HOSTS:
            raise tornado.web.HTTPError(421, NO_PUBLIC_URL)
        return f"{self.request.protocol}://{self.request.host}"

    def absolute_url(self, path: str) -> str:
        """`path` on this shop as visitors reach it (see shop_url)."""
        return self.shop_url() + path

    def next_after_sign_in(self) -> str:
        """Where signing in leads back to: this page, or home after a form post."""
        return self.request.uri if self.request.method in ("GET", "HEAD") else "/"

    # -- the visitor's cart, covers -------------------------------------

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
            described = {"status": status_code, "message": message}
            if isinstance(error, ValidationError):
                described["fields"] = error.errors  # what is wrong with each field, as a form shows it
            self.write_json({"error": described})
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
    accepts_tokens = True

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
