"""A Cookie header is read once per process, its signed cookies checked once but their age every time,
and a forged one is never taken for checked."""

import time

import pytest
import tornado.web

from burts_books.web import signed_cookies
from burts_books.web.signed_cookies import CookieHeader, CookieHeaders, signed_at
from tests.constants import COOKIE_SECRET, PCI


def signed(name: str, value: str, at: float) -> str:
    return tornado.web.create_signed_value(COOKIE_SECRET, name, value, clock=lambda: at).decode()


def test_when_a_cookie_was_signed_is_read_from_tornados_format():
    now = int(time.time())
    assert signed_at(signed("session", "abc:1", now)) == now
    for made_up in ("", "abc", "1|2|3|4", "2|1:0|9:123|7:session|x", "2|1:0|10:12345678ab|x|y"):
        assert signed_at(made_up) is None


class Checks:
    """A signature check that counts its calls and passes what `good` says."""

    def __init__(self, good: bool = True):
        self.good = good
        self.calls = 0

    def __call__(self, raw: str) -> bytes | None:
        self.calls += 1
        return raw.split("|")[4].encode() if self.good else None


def test_a_cookie_is_checked_once_but_refused_once_it_is_too_old(monkeypatch):
    raw = signed("session", "abc:1", time.time())
    header = CookieHeaders().read(f"_xsrf=2|ab|cd|1; session={raw}")
    check = Checks()
    for _ in range(3):
        assert header.signed_value("session", 30, None, check) is not None
    assert check.calls == 1
    assert header.signed_value("cart", 30, None, check) is None  # not in the header
    assert header.values["_xsrf"] == "2|ab|cd|1"
    later = time.time() + 31 * 86400
    monkeypatch.setattr(signed_cookies.time, "time", lambda: later)
    assert header.signed_value("session", 30, None, check) is None
    assert header.signed_value("session", 60, None, check) is not None  # a cookie read with a longer life


def test_a_cookie_that_does_not_check_out_is_checked_every_time():
    header = CookieHeaders().read("session=" + signed("session", "abc:1", time.time()))
    check = Checks(good=False)
    for _ in range(3):
        assert header.signed_value("session", 30, None, check) is None
    assert check.calls == 3


def test_a_header_is_parsed_once_and_only_so_many_bytes_of_headers_are_kept():
    sent = [f"cart={signed('cart', f'cart-{n}', time.time())}" for n in range(10, 22)]
    headers = CookieHeaders(size_bytes=3 * CookieHeader(sent[0]).size)
    first = [headers.read(header) for header in sent]
    again = [headers.read(header) for header in reversed(sent)][::-1]  # the last sent first
    assert [a is b for a, b in zip(first, again, strict=True)] == [False] * 9 + [True] * 3
    assert all(read.values["cart"] == header.removeprefix("cart=") for read, header in zip(again, sent, strict=True))
    huge = "x=" + "y" * 4_000  # bigger than all that is kept: read, not kept
    assert headers.read(huge).values == {"x": "y" * 4_000} and headers.read(huge) is not headers.read(huge)


@pytest.mark.gen_test
async def test_a_forged_session_cookie_is_refused_every_time(client, reader):
    signed_in = client.another()
    await signed_in.login(reader["email"])
    session = signed_in.cookies["session"]
    forged = session[:-1] + ("0" if session[-1] != "0" else "1")
    for _ in range(3):
        visitor = client.another()
        visitor.cookies["session"] = forged
        assert (await visitor.get("/account")).code == 302  # sent to sign in
    assert (await signed_in.get("/account")).code == 200
    assert (await signed_in.cart_json("add", PCI)).code == 200
