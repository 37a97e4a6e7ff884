"""Checkout: a signed-in shopper's cart becomes an order and its copies leave stock."""

import asyncio
import re

import pytest

from tests.constants import PASSWORD, PCI, RESTFUL, STARTER_BOOKS
from tests.shop_client import cart_count, text_of
from tests.store import interleave_store_calls, stock_of, store_snapshot


@pytest.mark.gen_test
async def test_buying_the_cart_makes_an_order_and_takes_the_copies_from_stock(shopper, services):
    for isbn in (PCI, PCI, RESTFUL):
        await shopper.post("/cart", {"action": "add", "isbn": isbn})
    restful_before = await stock_of(services, RESTFUL)

    response = await shopper.post("/purchase")
    assert response.code == 303
    assert re.fullmatch(r"/orders/[0-9a-f]{24}", response.location)

    confirmation = await shopper.get(response.location)
    text = text_of(confirmation.text)
    assert "Thank you for your order" in text
    assert "Programming Collective Intelligence 2 $79.98" in text
    prices = {book["isbn"]: book["price_cents"] for book in STARTER_BOOKS}
    total = 2 * prices[PCI] + prices[RESTFUL]
    assert f"Total 3 ${total // 100}.{total % 100:02d}" in text and cart_count(confirmation.text) == 0

    pci = await stock_of(services, PCI)
    assert (pci["stock"], pci["available"]) == (10, 10)
    restful = await stock_of(services, RESTFUL)
    assert restful["stock"] == restful_before["stock"] - 1
    assert restful["available"] == restful_before["available"]
    assert "Your cart is empty" in text_of((await shopper.get("/cart")).text)

    history = await shopper.get("/orders")
    assert history.code == 200
    assert response.location in history.text
    assert "3 copies" in text_of(history.text)

    # The order stays: the expiry sweep does not give sold copies back.
    await services.housekeeping(cart_ttl_seconds=0.001)
    assert (await stock_of(services, PCI))["stock"] == 10


@pytest.mark.gen_test
async def test_an_anonymous_shopper_is_asked_to_sign_in_and_keeps_the_cart(client, services):
    await client.post("/cart", {"action": "add", "isbn": PCI})
    before = await store_snapshot(services)
    response = await client.post("/purchase")
    assert response.code == 303
    assert response.location == "/login?next=%2Fcart"
    assert await store_snapshot(services) == before
    assert "Sign in to check out" in text_of((await client.get("/cart")).text)


@pytest.mark.gen_test
async def test_an_empty_cart_cannot_be_bought(shopper, services):
    before = await store_snapshot(services)
    response = await shopper.post("/purchase")
    assert response.code == 400
    assert "Your cart is empty: add a book before checking out." in text_of(response.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_pressing_buy_twice_at_once_makes_one_order(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    interleave_store_calls(services)  # the two requests overlap, as with a real server

    first, second = await asyncio.gather(shopper.post("/purchase"), shopper.post("/purchase"))

    assert await services.db.orders.count_documents({}) == 1
    order_url = "/orders/" + str((await services.db.orders.find_one())["_id"])
    # The loser either sees the order its cart became, or (if it asked before the
    # order was written) that the cart is empty; never a second order.
    for answer in (first, second):
        assert (answer.code, answer.location) == (303, order_url) or (
            answer.code == 400 and "Your cart is empty" in text_of(answer.text))
    assert 303 in (first.code, second.code)
    pci = await stock_of(services, PCI)
    assert (pci["stock"], pci["available"]) == (10, 10)


@pytest.mark.gen_test
async def test_a_second_click_on_buy_shows_the_order_just_placed(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    first = await shopper.post("/purchase")
    again = await shopper.post("/purchase")
    assert (again.code, again.location) == (303, first.location)
    assert await services.db.orders.count_documents({}) == 1
    assert (await stock_of(services, PCI))["stock"] == 11


@pytest.mark.gen_test
async def test_orders_are_private(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    order_url = (await shopper.post("/purchase")).location

    anonymous = shopper.another()
    assert (await anonymous.get(order_url)).code == 302
    assert (await anonymous.get("/orders")).location.startswith("/login")

    await services.accounts.register("other@example.com", PASSWORD)
    other = shopper.another()
    await other.login("other@example.com")
    assert (await other.get(order_url)).code == 404
    assert "You have not ordered anything yet." in text_of((await other.get("/orders")).text)
