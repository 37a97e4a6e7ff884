"""Idle carts expire and give their copies back; reconciliation repairs a wrong count."""

import dataclasses

import pytest

from tests.constants import ADDRESS, PCI, RESTFUL
from tests.shop_client import available_shown, text_of
from tests.store import age_carts, set_stock, stock_of
from tests.waiting import recorder, until


@pytest.mark.gen_test
async def test_an_idle_cart_expires_and_its_copies_come_back(client, services, settings):
    await client.cart_json("add")
    await client.cart_json("add")
    await client.cart_json("add", RESTFUL)
    restful = await stock_of(services, RESTFUL)
    events = recorder(services.bus)

    await services.housekeeping(settings.cart_ttl_seconds)
    assert (await stock_of(services))["available"] == 10  # not idle long enough

    await age_carts(services, settings.cart_ttl_seconds + 1)
    await services.housekeeping(settings.cart_ttl_seconds)
    assert (await stock_of(services))["available"] == 12
    assert (await stock_of(services, RESTFUL))["available"] == restful["available"] + 1
    await until(lambda: len(events) == 2)
    assert {"isbn": PCI, "available": 12, "version": 4} in events
    assert "Your cart is empty" in text_of((await client.get("/cart")).text)

    # Running again (as another process would) gives nothing back twice.
    await services.housekeeping(settings.cart_ttl_seconds)
    assert (await stock_of(services))["available"] == 12


@pytest.mark.gen_test
async def test_after_expiry_the_shopper_can_fill_a_new_cart(client, services, settings):
    await client.cart_json("add")
    await age_carts(services, settings.cart_ttl_seconds + 1)
    await services.housekeeping(settings.cart_ttl_seconds)
    response = await client.cart_json("add")
    assert response.code == 200
    assert response.json()["cart"]["count"] == 1
    assert (await stock_of(services))["available"] == 11


@pytest.mark.gen_test
async def test_the_server_timer_expires_idle_carts(services, settings, monkeypatch):
    runs = []
    housekeeping = services.housekeeping

    async def counted_housekeeping(*ttls):
        await housekeeping(*ttls)
        runs.append(ttls)

    monkeypatch.setattr(services, "housekeeping", counted_housekeeping)
    often = dataclasses.replace(settings, reconcile_interval_seconds=0.01)
    services.start_housekeeping(often)  # what `burts-books serve` does; stopped by services.close()
    await services.carts.add(None, None, PCI, ADDRESS)
    runs_before = len(runs)
    await until(lambda: len(runs) >= runs_before + 2, message="the housekeeping timer does not run")
    # Each run expires what the settings call idle...
    assert set(runs) == {(settings.cart_ttl_seconds, settings.anonymous_cart_ttl_seconds)}
    assert (await stock_of(services))["available"] == 11  # ...so a cart in use is left alone

    await age_carts(services, settings.cart_ttl_seconds + 1)

    async def copy_back():
        return (await stock_of(services))["available"] == 12

    await until(copy_back, message="the timer never expired the idle cart")


@pytest.mark.parametrize("ttl, anonymous_ttl", [
    pytest.param(60, 600, marks=pytest.mark.settings(cart_ttl_seconds=60, anonymous_cart_ttl_seconds=600)),
    pytest.param(600, 60, marks=pytest.mark.settings(cart_ttl_seconds=600, anonymous_cart_ttl_seconds=60)),
])
@pytest.mark.gen_test
async def test_each_kind_of_cart_is_held_for_its_own_ttl(shopper, services, ttl, anonymous_ttl):
    """Either TTL may be the longer: a visitor's cart and a signed-in shopper's each last their own."""
    visitor = shopper.another()
    await visitor.cart_json("add")
    await shopper.cart_json("add", RESTFUL)
    carts = {visitor: (PCI, anonymous_ttl), shopper: (RESTFUL, ttl)}  # the book each holds, for how long
    sooner, later = sorted(carts, key=lambda browser: carts[browser][1])

    async def held(browser):
        """Whether the browser's cart page still lists its book, and how many copies of it are off sale."""
        isbn, _ = carts[browser]
        listed = "Your cart is empty" not in text_of((await browser.get("/cart")).text)
        book = await stock_of(services, isbn)
        return listed, book["stock"] - book["available"]

    await age_carts(services, carts[sooner][1] + 1)  # idle past the shorter TTL, well within the longer
    await services.housekeeping(ttl, anonymous_ttl)
    assert (await held(sooner), await held(later)) == ((False, 0), (True, 1))

    await age_carts(services, carts[later][1])
    await services.housekeeping(ttl, anonymous_ttl)
    assert await held(later) == (False, 0)


@pytest.mark.gen_test
async def test_reconciliation_repairs_a_broken_count(client, services):
    await client.cart_json("add")
    await client.cart_json("add")
    # A crash between a cart write and a book write left the count wrong.
    await services.db.books.update_one({"isbn": PCI}, {"$set": {"available": 12}})
    events = recorder(services.bus)

    await services.housekeeping(cart_ttl_seconds=3600)
    assert (await stock_of(services))["available"] == 12  # the cart is mid-change: left alone

    await age_carts(services, 10)
    await services.housekeeping(cart_ttl_seconds=3600)
    book = await stock_of(services)
    assert book["available"] == 10
    await until(lambda: events)
    assert events == [{"isbn": PCI, "available": 10, "version": book["inventory_version"]}]
    assert available_shown((await client.get(f"/books/{PCI}")).text) == 10


@pytest.mark.gen_test
async def test_reconciliation_never_makes_a_count_negative(client, services):
    await client.cart_json("add")
    await set_stock(services, 0, available=3)
    await age_carts(services, 10)
    await services.housekeeping(cart_ttl_seconds=3600)
    assert (await stock_of(services))["available"] == 0


@pytest.mark.gen_test
async def test_reconciliation_skips_a_book_that_changed_while_it_counted(client, services):
    await client.cart_json("add")
    await age_carts(services, 10)
    await services.db.books.update_one({"isbn": PCI}, {"$set": {"available": 12}})

    async def held_copies_while_a_shopper_adds():
        counted = await services.carts.held_copies()
        await services.inventory.take(PCI)  # the book changes after it was read
        return counted

    assert await services.inventory.reconcile(held_copies_while_a_shopper_adds) == []
    assert (await stock_of(services))["available"] == 11
