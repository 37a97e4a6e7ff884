"""Closed carts don't pile up: housekeeping forgets them a day after they closed."""

import pytest

from tests.constants import PCI, RESTFUL
from tests.store import age_carts, set_stock, stock_of

DAY = 24 * 60 * 60


@pytest.mark.gen_test
async def test_closed_carts_are_forgotten_after_a_day_and_open_ones_kept(client, services):
    await client.cart_json("add")
    await client.another().cart_json("add", RESTFUL)
    old_open, recent = [c["_id"] for c in await services.db.carts.find().sort("created_at").to_list(None)]
    await services.db.carts.update_one({"_id": recent}, {"$set": {"status": "expired"}})
    await age_carts(services, 2 * DAY, old_open)  # idle for two days: expires now, closed just now

    await services.housekeeping(cart_ttl_seconds=DAY)
    assert await services.db.carts.count_documents({}) == 2  # both closed less than a day ago
    assert (await stock_of(services))["available"] == 12  # the idle cart's copy came back

    await age_carts(services, DAY + 60, recent)
    await services.housekeeping(cart_ttl_seconds=DAY)
    assert [c["_id"] for c in await services.db.carts.find().to_list(None)] == [old_open]


@pytest.mark.gen_test
async def test_a_sold_out_first_click_opens_no_cart(client, services):
    await set_stock(services, 0)
    response = await client.cart_json("add")
    assert response.code == 409 and response.json()["error"]["message"] == "Sorry, this book just sold out."
    assert await services.db.carts.count_documents({}) == 0
    assert "cart" not in client.cookies


@pytest.mark.gen_test
async def test_a_visitor_who_never_adds_leaves_nothing_behind(client, services):
    for path in ("/", "/recommended/", "/books/", "/books/?q=python", f"/books/{PCI}", "/cart",
                 f"/cart/status?isbn={PCI}", "/login", "/register", f"/api/books/{PCI}"):
        assert (await client.get(path)).code == 200, path
    for collection in ("carts", "orders", "users"):
        assert await getattr(services.db, collection).count_documents({}) == 0, collection
    assert set(client.cookies) <= {"_xsrf"}


@pytest.mark.gen_test
async def test_an_emptied_cart_goes_when_it_expires_and_a_full_one_stays_closed(client, services):
    await client.cart_json("add")
    await client.cart_json("remove")
    await client.another().cart_json("add", RESTFUL)
    await age_carts(services, 2 * DAY)

    await services.housekeeping(cart_ttl_seconds=DAY)
    remaining = await services.db.carts.find().to_list(None)
    assert [(cart["status"], cart["lapsed"]) for cart in remaining] == [("expired", {RESTFUL: 1})]
    assert (await stock_of(services, RESTFUL))["available"] == (await stock_of(services, RESTFUL))["stock"]
