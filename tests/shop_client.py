"""A small browser stand-in: keeps cookies and sends the XSRF token with forms like a page would."""

import html as html_entities
import json
import re
import urllib.parse
from http.cookies import SimpleCookie


class Response:
    def __init__(self, raw):
        self.raw = raw
        self.code = raw.code
        self.headers = raw.headers
        self.text = raw.body.decode("utf-8") if raw.body else ""

    def json(self):
        return json.loads(self.text)

    @property
    def location(self):
        return self.headers.get("Location")


class ShopClient:
    PASSWORD = "correct horse battery"

    def __init__(self, http_client, base_url):
        self.http = http_client
        self.base_url = base_url
        self.cookies: dict[str, str] = {}

    def _store_cookies(self, headers):
        for header in headers.get_list("Set-Cookie"):
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if (morsel["expires"] and "1970" in morsel["expires"]) or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def fetch(self, path, method="GET", body=None, headers=None, xsrf=True):
        """Fetch without following redirects; forms (dicts) get the XSRF token unless xsrf=False."""
        headers = dict(headers or {})
        if method not in ("GET", "HEAD") and "_xsrf" not in self.cookies and xsrf:
            await self.fetch("/login")  # any page hands out the XSRF cookie
        if isinstance(body, dict):
            form = dict(body)
            if xsrf:
                form.setdefault("_xsrf", self.cookies["_xsrf"])
            body = urllib.parse.urlencode(form)
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        raw = await self.http.fetch(
            self.base_url + path, method=method, body=body, headers=headers,
            follow_redirects=False, raise_error=False,
        )
        self._store_cookies(raw.headers)
        return Response(raw)

    async def get(self, path, **kwargs):
        return await self.fetch(path, **kwargs)

    async def post(self, path, form=None, **kwargs):
        return await self.fetch(path, method="POST", body=form if form is not None else {}, **kwargs)

    async def login(self, email, password=PASSWORD):
        response = await self.post("/login", {"email": email, "password": password})
        assert response.code == 302, response.text
        return response


def text_of(html: str) -> str:
    """Page text without tags and with collapsed spaces, for asserting what a reader sees."""
    return html_entities.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip())
