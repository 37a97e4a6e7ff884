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
