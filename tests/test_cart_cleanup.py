"""Closed carts don't pile up: housekeeping forgets them a day after they closed."""

import datetime

import pytest

from tests.inventory_helpers import PCI, RESTFUL, cart_json, stock_of
from tests.shop_client import ShopClient

DAY = 24 * 60 * 60


async def touched_ago(services, cart_id, seconds):
    await services.db.carts.update_one(
        {"_id": cart_id},
        {"$set": {"touched_at": datetime.datetime.utcnow() - datetime.timedelta(seconds=seconds)}},
    )


@pytest.mark.gen_test
async def test_closed_carts_are_forgotten_after_a_day_and_open_ones_kept(client, services, http_client, base_url):
    await cart_json(client, "add")
    other = ShopClient(http_client, base_url)
    await cart_json(other, "add", RESTFUL)
    old_open, recent = [c["_id"] for c in await services.db.carts.find().sort("created_at").to_list(None)]
    await services.db.carts.update_one({"_id": recent}, {"$set": {"status": "expired"}})
    await touched_ago(services, old_open, 2 * DAY)  # idle for two days: expires now, closed just now

    await services.housekeeping(cart_ttl_seconds=DAY)
    assert await services.db.carts.count_documents({}) == 2  # both closed less than a day ago
    assert (await stock_of(services))["available"] == 12  # the idle cart's copy came back

    await touched_ago(services, recent, DAY + 60)
    await services.housekeeping(cart_ttl_seconds=DAY)
    assert [c["_id"] for c in await services.db.carts.find().to_list(None)] == [old_open]


@pytest.mark.gen_test
async def test_a_sold_out_first_click_opens_no_cart(client, services):
    await services.db.books.update_one({"isbn": PCI}, {"$set": {"stock": 0, "available": 0}})
    response = await cart_json(client, "add")
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
async def test_an_emptied_cart_goes_when_it_expires_and_a_full_one_stays_closed(client, services, http_client,
                                                                                base_url):
    await cart_json(client, "add")
    await cart_json(client, "remove")
    holder = ShopClient(http_client, base_url)
    await cart_json(holder, "add", RESTFUL)
    for cart in await services.db.carts.find().to_list(None):
        await touched_ago(services, cart["_id"], 2 * DAY)

    await services.housekeeping(cart_ttl_seconds=DAY)
    remaining = await services.db.carts.find().to_list(None)
    assert [(cart["status"], cart["holds"]) for cart in remaining] == [("expired", {RESTFUL: 1})]
    assert (await stock_of(services, RESTFUL))["available"] == (await stock_of(services, RESTFUL))["stock"]
