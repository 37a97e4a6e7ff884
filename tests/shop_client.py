"""A small browser stand-in, and reading pages as a person would.

`ShopClient` keeps cookies and sends the XSRF token like a page would: in
forms, and in the X-XSRFToken header of JSON requests. The functions below it
read what a page shows: its text, its forms, the errors a form marks, the
cart count in the header.
"""

import asyncio
import dataclasses
import functools
import html as html_entities
import json
import re
import urllib.parse
import uuid
from http.cookies import SimpleCookie

from tests.constants import JSON, PASSWORD, PCI


class Response:
    def __init__(self, raw):
        self.raw = raw
        self.code = raw.code
        self.headers = raw.headers

    @functools.cached_property
    def text(self):
        """The body as text; read an image's bytes from `raw.body`."""
        return self.raw.body.decode("utf-8") if self.raw.body else ""

    def json(self):
        return json.loads(self.text)

    @property
    def location(self):
        return self.headers.get("Location")


class ShopClient:
    def __init__(self, http_client, base_url, address=None, token=None):
        """`address`: the client address a proxy in front of the shop reports (see the proxied_url fixture)."""
        self.http = http_client
        self.base_url = base_url
        self.address = address
        self.cookies: dict[str, str] = {}
        self.token = token  # an API token, sent as `Authorization: Bearer` with every request

    def another(self, address=None):
        """Another person's browser on the same shop: no cookies of this one's; from `address`, else from this one's."""
        return ShopClient(self.http, self.base_url, address or self.address)

    def program(self, token):
        """A program on the same shop that sends the API token `token` (and has no cookies)."""
        return ShopClient(self.http, self.base_url, self.address, token)

    def _store_cookies(self, headers):
        for header in headers.get_list("Set-Cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if (morsel["expires"] and "1970" in morsel["expires"]) or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def xsrf_token(self):
        """The XSRF token a page of this browser would send, fetching a page first if it has none yet."""
        if "_xsrf" not in self.cookies:
            await self.fetch("/login")  # any page hands out the XSRF cookie
        return self.cookies["_xsrf"]

    async def fetch(self, path, method="GET", body=None, headers=None, xsrf=True):
        """Fetch without following redirects; forms (dicts) get the XSRF token unless xsrf=False."""
        headers = dict(headers or {})
        if self.address:
            headers["X-Real-IP"] = self.address
        if method not in ("GET", "HEAD") and xsrf:
            await self.xsrf_token()
        if isinstance(body, dict):
            form = dict(body)
            if xsrf:
                form.setdefault("_xsrf", self.cookies["_xsrf"])
            body = urllib.parse.urlencode(form)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        raw = await self.http.fetch(
            self.base_url + path, method=method, body=body, headers=headers,
            follow_redirects=False, raise_error=False,
        )
        self._store_cookies(raw.headers)
        return Response(raw)

    async def get(self, path, **kwargs):
        return await self.fetch(path, **kwargs)

    async def post(self, path, form=None, **kwargs):
        """POST a form (a dict), as a browser submits one."""
        return await self.fetch(path, method="POST", body=form if form is not None else {}, **kwargs)

    async def post_multipart(self, path, fields, files=None, *, xsrf=True):
        """POST a form as multipart/form-data, as a browser sends one with a file input;
        `files` maps a field to (filename, content type, bytes)."""
        fields = dict(fields)
        if xsrf:
            fields.setdefault("_xsrf", await self.xsrf_token())
        boundary = uuid.uuid4().hex
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                 for name, value in fields.items()]
        for name, (filename, content_type, data) in (files or {}).items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                         f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        return await self.fetch(path, method="POST", body=body, headers=headers, xsrf=xsrf)

    async def post_json(self, path, data=None, *, text=None, xsrf=True):
        """POST `data` as a JSON body (or `text` as it is), with the XSRF header a page script sends."""
        headers = {**JSON, "Content-Type": "application/json"}
        if xsrf:
            headers["X-XSRFToken"] = await self.xsrf_token()
        body = text if text is not None else json.dumps(data)
        return await self.fetch(path, method="POST", body=body, headers=headers, xsrf=xsrf)

    async def get_json(self, path, status=200):
        """GET `path` as a program would (no Accept header); assert the status and that the answer is JSON."""
        response = await self.get(path)
        assert response.code == status, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        return response.json()

    async def cart_json(self, action, isbn=PCI):
        """What the page script does: POST /cart as a form, asking for JSON."""
        return await self.post("/cart", {"action": action, "isbn": isbn}, headers=JSON)

    async def poll(self, *pairs):
        """Long-poll /cart/status for (isbn, version seen or None) pairs; assert it answered 200, return its books."""
        response = await self.get(status_url(*pairs))
        assert response.code == 200, response.text
        return response.json()["books"]

    async def create_token(self, name="restock script"):
        """Make an API token on the account page, as staff do; returns the token the page shows this once."""
        response = await self.post("/account/tokens", {"name": name})
        assert response.code == 201, response.text
        return re.search(r'<code id="new-token">([^<]+)</code>', response.text).group(1)

    async def check_out(self, **contact):
        """Review the cart at /checkout and place the order with the form as the page fills it, but for `contact`
        (name, email, phone, note); returns the answer to placing it."""
        review = await self.get("/checkout")
        assert review.code == 200, review.text
        return await self.post("/checkout", {**form_values(review.text, "/checkout"), **contact})

    async def login(self, email, password=PASSWORD):
        response = await self.post("/login", {"email": email, "password": password})
        assert response.code == 302, response.text
        return response


async def adds_without_cookies(attacker: ShopClient, isbns):
    """A denial-of-inventory attack: one add per ISBN, all at once, each from a browser that kept
    no cookie but its XSRF token (so each opens a cart of its own). Returns the answers."""
    token = await attacker.xsrf_token()

    async def add(isbn):
        browser = attacker.another()
        browser.cookies = {"_xsrf": token}
        return await browser.cart_json("add", isbn)

    return await asyncio.gather(*(add(isbn) for isbn in isbns))


def status_url(*pairs) -> str:
    """The long-poll address for (isbn, version seen or None) pairs, as the page script asks."""
    return "/cart/status?" + "&".join(
        f"isbn={isbn}" + (f"&version={version}" if version is not None else "") for isbn, version in pairs
    )


async def raw_poll(base_url: str, *pairs) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A long poll for (isbn, version) pairs sent on a connection of its own, as a page's script sends one,
    for tests of what the server does while it is held (and when the connection goes)."""
    address = urllib.parse.urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(f"GET {status_url(*pairs)} HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode())
    return reader, writer


def text_of(html: str) -> str:
    """Page text without tags and with collapsed spaces, for asserting what a reader sees."""
    return html_entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())


async def signed_in_as(browser: ShopClient) -> str | None:
    """Who the header shows as signed in (email, else name), or None for an anonymous visitor."""
    found = re.search(r'<span class="who">([^<(]*)', (await browser.get("/")).text)
    return found.group(1).strip() if found else None


def cart_count(html: str) -> int:
    """The number of copies the header's Cart link shows."""
    return int(re.search(r'class="cart-count">(\d+)<', html).group(1))


def available_shown(html: str) -> int:
    """The copies a book's page shows as left (its stock line says "In stock" above a few)."""
    return int(re.search(r'<section class="stock offer" id="stock"[^>]* data-available="(\d+)"', html).group(1))


def listed_titles(html: str) -> list[str]:
    """The titles of the book cards a listing (home, catalog, search) shows, in page order."""
    return [html_entities.unescape(t) for t in re.findall(r'<h[23] class="title">(.*?)</h[23]>', html)]


def offers(html: str) -> dict[str, str]:
    """{isbn: what a listing or book page says about its stock and cart}, for every book it offers."""
    offer = r'<(?:div|section) class="[^"]*\boffer\b[^"]*"[^>]*data-isbn="(\d+)"[^>]*>(.*?)</(?:div|section)>'
    return dict(re.findall(offer, html, re.S))


def book_articles(html: str) -> dict[str, str]:
    """{isbn: the Book UI module's output} for every book the page shows, in page order."""
    return dict(re.findall(r'<article class="book" id="book-(\d+)">(.*?)</article>', html, re.S))


@dataclasses.dataclass
class Form:
    action: str | None  # None: the form posts back to the page's own address
    method: str
    values: dict[str, str]  # what the browser would send, without the XSRF token (ShopClient adds its own)


def _attribute(tag: str, name: str) -> str | None:
    found = re.search(rf'\s{name}="([^"]*)"', tag)
    return html_entities.unescape(found.group(1)) if found else None


def forms(html: str) -> list[Form]:
    """Every form on the page, in page order."""
    found = []
    for tag, body in re.findall(r"(<form\b[^>]*>)(.*?)</form>", html, re.S):
        values = {}
        for field in re.finditer(r"<input\b[^>]*>|(<textarea\b[^>]*>)(.*?)</textarea>", body, re.S):
            if field.group(1):  # a textarea: its value is its text
                name, value = _attribute(field.group(1), "name"), html_entities.unescape(field.group(2))
            else:
                name, value = _attribute(field.group(0), "name"), _attribute(field.group(0), "value") or ""
            if name and name != "_xsrf":
                values[name] = value
        found.append(Form(_attribute(tag, "action"), (_attribute(tag, "method") or "get").lower(), values))
    return found


def form_values(html: str, action: str | None = None) -> dict[str, str]:
    """The fields of the page's POST form to `action` (by default the one posting back to the page), as typed in."""
    matching = [form for form in forms(html) if form.method == "post" and form.action == action]
    assert matching, f"no form posting to {action or 'this page'}"
    return matching[0].values


def field_errors(html: str) -> dict[str, str]:
    """{field name: message} for every field the page's form marks as wrong."""
    errors = {}
    for block in re.findall(r'<p class="field has-error">(.*?)</p>', html, re.S):
        name = re.search(r'name="(\w+)"', block).group(1)
        errors[name] = html_entities.unescape(re.search(r'<span class="error"[^>]*>(.*?)</span>', block).group(1))
    return errors
