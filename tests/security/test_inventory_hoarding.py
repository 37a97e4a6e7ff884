"""Denial of inventory (OWASP OAT-021): holding copies in carts so nobody else can buy them.

The attacks run as they did against the shop: many requests at once, through the real
handlers behind a proxy that reports each client's address, the store's calls interleaving
as a real server's do.
"""

import asyncio
import re

import pytest

from tests.constants import ATTACKER, JSON, PASSWORD, PCI, RESTFUL, SHOPPER_EMAIL, STARTER_BOOKS
from tests.shop_client import ShopClient, adds_without_cookies, cart_count, text_of
from tests.store import age_carts, interleave_store_calls, set_stock, stock_of

NEIGHBOUR = "198.51.100.7"
ANONYMOUS_ADDS = 20  # the default --anonymous-adds-per-address


async def available(services):
    return {book["isbn"]: book["available"] async for book in services.db.books.find({}, {"isbn": 1, "available": 1})}


def assert_too_many(response, longest):
    """A 429 that says when to come back, in the shape of every other error."""
    assert response.code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= longest
    error = response.json()["error"]
    assert error["status"] == 429 and "try again in" in error["message"]


@pytest.mark.gen_test(timeout=30)
async def test_fifty_anonymous_adds_without_cookies_no_longer_sell_out_a_title(
    services, settings, many_at_once, proxied_url
):
    await set_stock(services, 50)
    interleave_store_calls(services)
    attacker = ShopClient(many_at_once, proxied_url, ATTACKER)

    answers = await adds_without_cookies(attacker, [PCI] * 60)

    assert sorted(a.code for a in answers) == [200] * ANONYMOUS_ADDS + [429] * (60 - ANONYMOUS_ADDS)
    for refused in (a for a in answers if a.code == 429):
        assert_too_many(refused, settings.anonymous_cart_ttl_seconds)
    assert (await stock_of(services))["available"] == 50 - ANONYMOUS_ADDS
    # Everyone else still sees the book on sale, and can buy it.
    page = await attacker.another(NEIGHBOUR).get(f"/books/{PCI}")
    assert 'value="add" disabled' not in page.text
    assert (await attacker.another(NEIGHBOUR).cart_json("add")).code == 200


@pytest.mark.gen_test(timeout=30)
async def test_the_whole_starter_catalog_cannot_be_held_from_one_address(services, many_at_once, proxied_url):
    interleave_store_calls(services)
    before = await available(services)
    every_copy = [book["isbn"] for book in STARTER_BOOKS for _ in range(book["stock"])]  # 136 adds

    answers = await adds_without_cookies(ShopClient(many_at_once, proxied_url, ATTACKER), every_copy)

    assert [a.code for a in answers].count(200) == ANONYMOUS_ADDS
    after = await available(services)
    assert sum(before.values()) - sum(after.values()) == ANONYMOUS_ADDS
    assert sum(1 for isbn in after if after[isbn] > 0) >= len(after) - 2  # nearly every title still on sale


@pytest.mark.settings(max_copies_per_cart=5)
@pytest.mark.gen_test(timeout=30)
async def test_one_cart_holds_at_most_its_cap_across_all_titles_however_many_adds_race(
    services, many_at_once, proxied_url
):
    interleave_store_calls(services)
    visitor = ShopClient(many_at_once, proxied_url, ATTACKER)
    assert (await visitor.cart_json("add", PCI)).code == 200  # the cart, kept in the cookie
    before = await available(services)
    titles = [book["isbn"] for book in STARTER_BOOKS[:4]]

    answers = await asyncio.gather(*(visitor.cart_json("add", isbn) for isbn in titles * 3))

    assert sorted(a.code for a in answers) == [200] * 4 + [409] * 8
    refused = next(a for a in answers if a.code == 409).json()
    assert refused["error"]["message"] == "A cart holds at most 5 copies: check out, or take some out first."
    assert (await visitor.get("/cart", headers=JSON)).json()["cart"]["count"] == 5
    after = await available(services)
    assert sum(before.values()) - sum(after.values()) == 4  # nothing taken for the refused adds
    assert (await visitor.cart_json("remove", PCI)).code == 200  # taking one out makes room again
    assert (await visitor.cart_json("add", RESTFUL)).code == 200


@pytest.mark.settings(max_copies_per_cart=3)
@pytest.mark.gen_test
async def test_a_first_add_of_more_copies_than_a_cart_holds_opens_no_cart_and_takes_nothing(
    services, many_at_once, proxied_url
):
    visitor = ShopClient(many_at_once, proxied_url, ATTACKER)
    before = await available(services)
    refused = await visitor.post("/cart", {"action": "set", "isbn": PCI, "quantity": "5"}, headers=JSON)
    assert refused.code == 409
    assert refused.json()["error"]["message"] == "A cart holds at most 3 copies: check out, or take some out first."
    assert await available(services) == before
    assert await services.db.carts.count_documents({"copies": {"$gt": 0}}) == 0
    assert (await visitor.post("/cart", {"action": "set", "isbn": PCI, "quantity": "3"}, headers=JSON)).code == 200
    assert (await visitor.get("/cart", headers=JSON)).json()["cart"]["count"] == 3


@pytest.mark.gen_test
async def test_a_visitor_adding_too_fast_is_slowed_down_even_in_a_new_cart(shopper, services, settings):
    for n in range(settings.cart_adds_per_minute):
        # Add and remove in turn: churn that would send an event to every open page.
        assert (await shopper.cart_json("add")).code == 200, n
        assert (await shopper.cart_json("remove")).code == 200

    assert_too_many(await shopper.cart_json("add"), 60)
    assert (await shopper.cart_json("add", RESTFUL)).code == 429
    shopper.cookies.pop("cart")  # a fresh cart is still the same signed-in visitor
    assert (await shopper.cart_json("add", RESTFUL)).code == 429

    # A browser without JavaScript gets a page saying so.
    page = await shopper.post("/cart", {"action": "add", "isbn": PCI})
    assert page.code == 429 and int(page.headers["Retry-After"]) <= 60
    assert re.search(r"<h1>\s*Too Many Requests\s*</h1>", page.text)
    assert "You're adding books faster than we can keep up with: try again in" in text_of(page.text)
    assert (await stock_of(services))["available"] == 12


@pytest.mark.settings(cart_adds_per_address_per_minute=4)
@pytest.mark.gen_test
async def test_adds_from_one_address_are_limited_across_its_visitors(services, http_client, proxied_url):
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    one = ShopClient(http_client, proxied_url, ATTACKER)
    await one.login(SHOPPER_EMAIL)
    other = one.another()  # another visitor at the same address, not signed in

    codes = [(await browser.cart_json("add")).code for browser in (one, other, one, other, one)]

    assert codes == [200, 200, 200, 200, 429]
    assert (await one.another(NEIGHBOUR).cart_json("add")).code == 200


@pytest.mark.gen_test
async def test_carts_of_visitors_not_signed_in_are_held_for_less_time(client, shopper, services, settings):
    anonymous = client.another()
    for browser in (anonymous, shopper):
        for _ in range(2):
            assert (await browser.cart_json("add")).code == 200
    await age_carts(services, settings.anonymous_cart_ttl_seconds + 1)

    await services.housekeeping(settings.cart_ttl_seconds, settings.anonymous_cart_ttl_seconds)

    assert (await stock_of(services))["available"] == 12 - 2  # the anonymous copies are back on sale
    assert cart_count((await anonymous.get("/")).text) == 0
    assert cart_count((await shopper.get("/")).text) == 2
    await age_carts(services, settings.cart_ttl_seconds - settings.anonymous_cart_ttl_seconds)
    await services.housekeeping(settings.cart_ttl_seconds, settings.anonymous_cart_ttl_seconds)
    assert (await stock_of(services))["available"] == 12


@pytest.mark.gen_test
async def test_an_ordinary_shopping_session_is_not_hindered(http_client, proxied_url, services):
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    browser = ShopClient(http_client, proxied_url, NEIGHBOUR)
    for page in ("/", "/recommended/", "/books/?q=python", f"/books/{PCI}", f"/books/{RESTFUL}", "/cart"):
        assert (await browser.get(page)).code == 200, page
    for isbn in (PCI, PCI, RESTFUL, STARTER_BOOKS[2]["isbn"]):
        assert (await browser.post("/cart", {"action": "add", "isbn": isbn})).code == 303
    assert (await browser.post("/cart", {"action": "remove", "isbn": PCI})).code == 303

    to_sign_in = await browser.get("/checkout")
    assert to_sign_in.location == "/login?next=%2Fcheckout"
    signed_in = await browser.post(to_sign_in.location, {"email": SHOPPER_EMAIL, "password": PASSWORD})
    assert signed_in.location == "/checkout"
    order = await browser.check_out(name="Ada Reader")
    assert order.code == 303 and order.location.startswith("/orders/")
    text = text_of((await browser.get(order.location)).text)
    assert "Thank you for your order" in text and "Total 3 " in text
    assert (await browser.get(f"/api/books/{PCI}", headers=JSON)).json()["available"] == 11
