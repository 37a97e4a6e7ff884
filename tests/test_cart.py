"""Carts: add and remove copies without ever selling more than the shop has."""

import asyncio
import datetime

import pytest

from tests.constants import JSON, PASSWORD, PCI, RESTFUL, SHOPPER_EMAIL, UNKNOWN_ISBN
from tests.shop_client import available_shown, cart_count, text_of
from tests.store import age_carts, interleave_store_calls, set_stock, stock_of, store_snapshot
from tests.waiting import recorder, until


@pytest.mark.gen_test
async def test_adding_takes_a_copy_and_removing_gives_it_back(client, services):
    events = recorder(services.bus)

    response = await client.cart_json("add")
    assert response.code == 200
    answer = response.json()
    assert answer["book"] == {"isbn": PCI, "available": 11, "version": 2}
    assert answer["cart"]["items"] == [
        {"isbn": PCI, "title": "Programming Collective Intelligence", "quantity": 1, "price_cents": 3999,
         "image": f"/static/images/{PCI}.svg", "available": 11}
    ]
    assert answer["cart"]["count"] == 1

    response = await client.cart_json("remove")
    assert response.code == 200
    assert response.json()["book"] == {"isbn": PCI, "available": 12, "version": 3}
    assert response.json()["cart"]["items"] == []
    await until(lambda: len(events) == 2)
    assert events == [{"isbn": PCI, "available": 11, "version": 2}, {"isbn": PCI, "available": 12, "version": 3}]


@pytest.mark.gen_test
async def test_a_json_body_with_the_xsrf_header_works(client, services):
    response = await client.post_json("/cart", {"action": "add", "isbn": PCI})
    assert response.code == 200
    assert response.json()["book"]["available"] == 11


@pytest.mark.gen_test
async def test_the_book_page_follows_the_cart_without_javascript(client, services):
    other = client.another()
    response = await client.post("/cart", {"action": "add", "isbn": PCI})
    assert response.code == 303
    assert response.location == f"/books/{PCI}"

    mine = await client.get(f"/books/{PCI}")
    assert 'data-in-cart="1"' in mine.text and 'data-version="2"' in mine.text
    assert "One copy is in your cart" in text_of(mine.text)
    assert 'class="in-cart" hidden' not in mine.text
    assert 'class="remove-from-cart" name="action" value="remove" hidden' not in mine.text
    assert cart_count(mine.text) == 1

    theirs = await other.get(f"/books/{PCI}")
    assert available_shown(theirs.text) == 11
    assert 'data-in-cart="0"' in theirs.text
    assert 'class="in-cart" hidden' in theirs.text and cart_count(theirs.text) == 0

    await client.post("/cart", {"action": "add", "isbn": PCI})
    mine = await client.get(f"/books/{PCI}")
    assert "2 copies are in your cart" in text_of(mine.text)
    cart_page = text_of((await client.get("/cart")).text)
    assert "Programming Collective Intelligence $39.99" in cart_page and "Subtotal, 2 copies $79.98" in cart_page

    await client.post("/cart", {"action": "remove", "isbn": PCI})
    await client.post("/cart", {"action": "remove", "isbn": PCI})
    mine = await client.get(f"/books/{PCI}")
    assert available_shown(mine.text) == 12
    assert 'class="in-cart" hidden' in mine.text
    assert "Your cart is empty" in text_of((await client.get("/cart")).text)


@pytest.mark.gen_test
async def test_the_last_copy_goes_to_one_shopper_the_other_is_told_it_sold_out(client, services):
    await set_stock(services, 1)
    late, later = client.another(), client.another()
    assert (await client.cart_json("add")).code == 200

    response = await late.cart_json("add")
    assert response.code == 409
    assert "sold out" in response.json()["error"]["message"]
    assert response.json()["book"] == {"isbn": PCI, "available": 0, "version": 2}
    assert response.json()["cart"]["items"] == []

    page = await later.post("/cart", {"action": "add", "isbn": PCI})
    assert page.code == 409
    assert "Sorry, this book just sold out." in text_of(page.text)
    assert '<span class="count" aria-live="polite">Sold out</span>' in page.text
    assert 'value="add" disabled' in page.text
    assert (await stock_of(services))["available"] == 0


@pytest.mark.gen_test(timeout=30)
async def test_a_hundred_shoppers_race_for_ten_copies(client, proxied_url, many_at_once, services):
    await set_stock(services, 10)
    interleave_store_calls(services)  # requests overlap between store calls, as with a real server
    seen = []
    services.bus.subscribe(lambda event: seen.append(event["available"]))
    xsrf = await client.xsrf_token()
    # A hundred browsers, each at its own address with its own cart, all with a valid XSRF token.
    headers = {**JSON, "Cookie": f"_xsrf={xsrf}"}
    body = f"action=add&isbn={PCI}&_xsrf={xsrf}"

    async def add(address):
        response = await many_at_once.fetch(
            proxied_url + "/cart", method="POST", body=body, headers={**headers, "X-Real-IP": address},
            raise_error=False,
        )
        return response.code

    codes = await asyncio.gather(*(add(f"198.51.100.{n}") for n in range(100)))
    assert sorted(codes) == [200] * 10 + [409] * 90
    book = await stock_of(services)
    assert book["available"] == 0 and book["stock"] == 10
    held = [cart["holds"].get(PCI, 0) async for cart in services.db.carts.find()]
    assert sum(held) == 10
    await until(lambda: len(seen) == 10)
    assert min(seen) == 0


@pytest.mark.gen_test
async def test_a_cart_holds_several_copies_up_to_ten_per_title(client, services):
    for _ in range(10):
        assert (await client.cart_json("add")).code == 200
    before = await store_snapshot(services)
    response = await client.cart_json("add")
    assert response.code == 409
    assert response.json()["error"]["message"] == "A cart holds at most 10 copies of a title."
    assert response.json()["cart"]["items"][0]["quantity"] == 10
    assert await store_snapshot(services) == before
    assert (await stock_of(services))["available"] == 2


@pytest.mark.gen_test
async def test_removing_a_book_that_is_not_in_the_cart_changes_nothing(client, services):
    await client.cart_json("add", RESTFUL)
    before = await store_snapshot(services)
    response = await client.cart_json("remove", PCI)
    assert response.code == 409
    assert response.json()["error"]["message"] == "This book is not in your cart."
    assert await store_snapshot(services) == before

    page = await client.post("/cart", {"action": "remove", "isbn": PCI})
    assert page.code == 409 and "This book is not in your cart." in text_of(page.text)
    assert await store_snapshot(services) == before


@pytest.mark.parametrize("form, code, message", [
    ({"action": "steal", "isbn": PCI}, 400, 'The action must be one of add, remove, set, add_again, forget.'),
    ({"isbn": PCI}, 400, 'The action must be one of add, remove, set, add_again, forget.'),
    ({"action": "add", "isbn": "12345"}, 400, "Not a valid ISBN"),
    ({"action": "add"}, 400, "Not an ISBN"),
    ({"action": "add", "isbn": UNKNOWN_ISBN}, 404, f"There is no book with ISBN {UNKNOWN_ISBN}"),
])
@pytest.mark.gen_test
async def test_bad_requests_are_refused_and_change_nothing(client, services, form, code, message):
    before = await store_snapshot(services)
    response = await client.post("/cart", form, headers=JSON)
    assert response.code == code
    assert message in response.json()["error"]["message"]
    page = await client.post("/cart", form)
    assert page.code == code and message in text_of(page.text)
    assert await store_snapshot(services) == before


@pytest.mark.parametrize("body, message", [
    ("{not json", "The body is not valid JSON."),
    (f'["add", "{PCI}"]', "The body must be a JSON object."),
    (f'{{"action": "add", "isbn": {PCI}}}', "Not an ISBN"),
    (f'{{"isbn": "{PCI}"}}', 'The action must be one of add, remove, set, add_again, forget.'),
])
@pytest.mark.gen_test
async def test_a_bad_json_body_is_refused_and_changes_nothing(client, services, body, message):
    await client.cart_json("add")
    before = await store_snapshot(services)
    response = await client.post_json("/cart", text=body)
    assert response.code == 400
    assert message in response.json()["error"]["message"]
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_cart_cookie_that_is_not_signed_by_the_shop_opens_no_cart(client, services):
    await client.cart_json("add")
    cart_id = (await services.db.carts.find_one())["_id"]
    before = await store_snapshot(services)

    thief = client.another()
    thief.cookies["cart"] = cart_id  # the cart's id, but not signed with the shop's secret
    assert (await thief.get("/cart", headers=JSON)).json()["cart"]["items"] == []
    response = await thief.cart_json("remove")
    assert response.code == 409 and response.json()["error"]["message"] == "This book is not in your cart."
    assert await store_snapshot(services) == before
    assert (await client.get("/cart", headers=JSON)).json()["cart"]["count"] == 1


@pytest.mark.gen_test
async def test_signing_in_keeps_the_cart_and_signing_out_hides_it(client, services):
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    await client.post("/cart", {"action": "add", "isbn": PCI})
    await client.login(SHOPPER_EMAIL)
    assert "Programming Collective Intelligence" in text_of((await client.get("/cart")).text)

    await client.post("/logout")
    assert "Your cart is empty" in text_of((await client.get("/cart")).text)
    await client.login(SHOPPER_EMAIL)
    assert cart_count((await client.get("/cart")).text) == 1


@pytest.mark.gen_test
async def test_a_cart_that_lapsed_before_signing_in_is_the_accounts_once_reopened(client, services):
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    await client.post("/cart", {"action": "add", "isbn": PCI})
    await age_carts(services, 601)
    await services.housekeeping(cart_ttl_seconds=1200, anonymous_cart_ttl_seconds=600)  # the visitor's hold lapses
    await client.login(SHOPPER_EMAIL)
    await client.post("/cart", {"action": "add_again", "isbn": PCI})
    hold = (await client.get("/cart", headers=JSON)).json()["cart"]
    cart = await services.db.carts.find_one({"status": "open"})
    assert cart["user_id"] is not None  # held as long as a signed-in shopper's cart, and theirs alone
    assert datetime.datetime.fromisoformat(hold["hold_ends"]).replace(tzinfo=None) - cart["touched_at"] == (
        datetime.timedelta(seconds=1200))
    await client.post("/logout")
    assert "Your cart is empty" in text_of((await client.get("/cart")).text)


@pytest.mark.gen_test
async def test_the_carts_json_gives_its_times_in_iso_8601_utc_as_books_and_orders_do(client, services):
    await client.post("/cart", {"action": "add", "isbn": PCI})
    held = (await client.get("/cart", headers=JSON)).json()["cart"]
    stored = await services.db.carts.find_one({"status": "open"})
    hold_ends, warn_at = (datetime.datetime.fromisoformat(held[key]) for key in ("hold_ends", "warn_at"))
    assert hold_ends.tzinfo == warn_at.tzinfo == datetime.UTC
    assert stored["touched_at"] < warn_at.replace(tzinfo=None) < hold_ends.replace(tzinfo=None)

    await age_carts(services, 601)
    await services.housekeeping(cart_ttl_seconds=1200, anonymous_cart_ttl_seconds=600)
    lapsed = (await client.get("/cart", headers=JSON)).json()["cart"]
    expired_at = datetime.datetime.fromisoformat(lapsed["expired_at"])
    assert expired_at.tzinfo == datetime.UTC and lapsed["hold_ends"] is None
    assert expired_at.replace(tzinfo=None) == (await services.db.carts.find_one({}))["expired_at"]


@pytest.mark.gen_test
async def test_signing_in_brings_the_accounts_earlier_cart_into_this_one(client, services):
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    await client.login(SHOPPER_EMAIL)
    for _ in range(2):
        await client.post("/cart", {"action": "add", "isbn": PCI})
    await client.post("/logout")
    await age_carts(services, 60)  # a minute ago
    await client.post("/cart", {"action": "add", "isbn": RESTFUL})  # anonymous again, in the same browser
    before = await stock_of(services, PCI)

    await client.login(SHOPPER_EMAIL)

    cart = (await client.get("/cart", headers=JSON)).json()["cart"]
    assert {item["isbn"]: item["quantity"] for item in cart["items"]} == {PCI: 2, RESTFUL: 1}
    assert await stock_of(services, PCI) == before  # the same copies, still held: none taken or given back
    assert await services.db.carts.count_documents({"status": "open"}) == 1


ADDRESS = "198.51.100.7"


@pytest.mark.gen_test
async def test_signing_in_with_a_lapsed_cart_goes_on_with_the_accounts_open_one(services):
    user = await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    earlier, _ = await services.carts.add(None, user, PCI, ADDRESS)  # on another device, signed in
    lapsed, _ = await services.carts.add(None, None, RESTFUL, ADDRESS)  # this browser, before signing in
    await age_carts(services, 601, lapsed.id)
    await services.housekeeping(cart_ttl_seconds=1200, anonymous_cart_ttl_seconds=600)
    before = await stock_of(services, PCI)

    assert await services.carts.adopt(lapsed.id, user) == earlier.id

    assert (await services.carts.find(earlier.id, user)).holds == {PCI: 1}
    assert await stock_of(services, PCI) == before


async def an_account_and_two_carts(services, older_signed_in: bool):
    """A shopper's account and two carts of a copy each, a second apart: the older (the account's if
    `older_signed_in`, else a visitor's) and the newer, a visitor's."""
    user = await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    older, _ = await services.carts.add(None, user if older_signed_in else None, PCI, ADDRESS)
    newer, _ = await services.carts.add(None, None, RESTFUL, ADDRESS)
    await age_carts(services, 1, older.id)
    return user, older, newer


@pytest.mark.gen_test
async def test_two_browsers_signing_in_at_once_keep_every_copy_in_one_cart(services):
    user, older, newer = await an_account_and_two_carts(services, older_signed_in=False)
    before = [await stock_of(services, isbn) for isbn in (PCI, RESTFUL)]
    interleave_store_calls(services)  # each adoption's every store call lets the other go on

    await asyncio.gather(services.carts.adopt(older.id, user), services.carts.adopt(newer.id, user))

    [cart] = await services.db.carts.find({"status": "open"}).to_list(None)
    assert (cart["_id"], cart["holds"], cart["user_id"]) == (newer.id, {PCI: 1, RESTFUL: 1}, user["_id"])
    assert [await stock_of(services, isbn) for isbn in (PCI, RESTFUL)] == before


@pytest.mark.gen_test
async def test_a_cart_folded_into_another_is_forgotten_with_the_closed_ones(services):
    user, earlier, anonymous = await an_account_and_two_carts(services, older_signed_in=True)
    await services.carts.adopt(anonymous.id, user)
    await age_carts(services, 3 * 86400, earlier.id)
    assert await services.carts.forget_closed(datetime.timedelta(days=1)) == 1
    assert await services.db.carts.find_one({"_id": earlier.id}) is None
