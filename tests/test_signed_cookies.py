"""Signed cookies are checked once per process, but their age every time, and a forged one is never remembered."""

import time

import pytest
import tornado.web

from burts_books.web import signed_cookies
from burts_books.web.signed_cookies import CheckedCookies, signed_at
from tests.constants import COOKIE_SECRET, PCI


def signed(name: str, value: str, at: float) -> str:
    return tornado.web.create_signed_value(COOKIE_SECRET, name, value, clock=lambda: at).decode()


def test_when_a_cookie_was_signed_is_read_from_tornados_format():
    now = int(time.time())
    assert signed_at(signed("session", "abc:1", now)) == now
    for made_up in ("", "abc", "1|2|3|4", "2|1:0|9:123|7:session|x", "2|1:0|10:12345678ab|x|y"):
        assert signed_at(made_up) is None


def test_a_cookie_checked_before_is_refused_once_it_is_too_old(monkeypatch):
    checked = CheckedCookies()
    raw = signed("session", "abc:1", time.time())
    checked.remember("session", raw, None, b"abc:1")
    assert checked.value("session", raw, max_age_days=30, min_version=None) == b"abc:1"
    assert checked.value("cart", raw, max_age_days=30, min_version=None) is None  # another cookie's name
    later = time.time() + 31 * 86400
    monkeypatch.setattr(signed_cookies.time, "time", lambda: later)
    assert checked.value("session", raw, max_age_days=30, min_version=None) is None


def test_only_so_many_are_remembered():
    checked = CheckedCookies(size=3)
    raws = [signed("cart", f"cart-{n}", time.time()) for n in range(5)]
    for n, raw in enumerate(raws):
        checked.remember("cart", raw, None, f"cart-{n}".encode())
    assert [checked.value("cart", raw, 30, None) for raw in raws] == [None, None, b"cart-2", b"cart-3", b"cart-4"]


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
