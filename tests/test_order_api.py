"""A shopper's program checks out as the page does: it reads the cart (GET /cart, its `revision` and
`prices`), places it as reviewed (POST /api/orders) and reads its orders back; a refused order changes
nothing, and says why."""

import asyncio
import re

import pytest

from tests.constants import JSON, PASSWORD, PCI, RESTFUL, SHOPPER_EMAIL, STAFF_EMAIL
from tests.mail_server import body_of
from tests.shop_client import form_values
from tests.store import interleave_store_calls, stock_of, store_snapshot
from tests.waiting import until

CONTACT = {"name": "Ada Reader", "email": SHOPPER_EMAIL, "phone": "+1 555 555 0100", "note": "Saturday morning."}


async def reviewed(client) -> dict:
    """The cart as a program reviews it before placing it (asking for JSON: /cart is a page too)."""
    answer = await client.get("/cart", headers=JSON)
    assert answer.code == 200, answer.text
    return answer.json()["cart"]


async def place(client, cart: dict, **changes):
    return await client.post_json("/api/orders", {**CONTACT, "revision": cart["revision"],
                                                  "prices": cart["prices"], **changes})


@pytest.mark.gen_test
async def test_a_program_places_the_cart_it_reviewed_and_reads_the_order_back(shopper, services, mail):
    for isbn in (PCI, PCI, RESTFUL):
        assert (await shopper.cart_json("add", isbn)).code == 200
    cart = await reviewed(shopper)
    restful_stock = (await stock_of(services, RESTFUL))["stock"]

    answer = await place(shopper, cart)

    assert answer.code == 201, answer.text
    order = answer.json()["order"]
    assert re.fullmatch(r"BB-\d{5}", order["number"])
    assert answer.location == f"/api/orders/{order['number']}"
    assert (order["status"], order["payment"]) == ("placed", {"method": "pay_at_pickup", "status": "due"})
    assert re.fullmatch(r"\d{6}", order["pickup_code"])
    assert [(line["isbn"], line["quantity"]) for line in order["lines"]] == [(PCI, 2), (RESTFUL, 1)]
    assert order["total_cents"] == cart["total_cents"]
    assert (order["name"], order["email"], order["phone"], order["note"]) == tuple(CONTACT.values())
    assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", order["created_at"])
    # The copies left stock, once; the cart is empty.
    assert (await stock_of(services, PCI))["stock"] == 10
    assert (await stock_of(services, RESTFUL))["stock"] == restful_stock - 1
    assert (await reviewed(shopper))["items"] == []

    assert await shopper.get_json(answer.location) == {"order": order}
    assert await shopper.get_json("/api/orders") == {"orders": [order]}
    await until(lambda: mail.to(SHOPPER_EMAIL), message="no confirmation mail arrived")
    assert f"pickup code is {order['pickup_code']}" in body_of(mail.to(SHOPPER_EMAIL)[0])

    # What staff do next shows in the order; the pickup code goes once it is collected.
    staff = await services.accounts.register(STAFF_EMAIL, PASSWORD, staff=True)
    stored = await services.orders.by_number(order["number"])
    await services.orders.mark_collected(await services.orders.mark_ready(stored, staff), stored["pickup_code"], staff)
    collected = (await shopper.get_json(answer.location))["order"]
    assert collected["status"] == "collected" and collected["pickup_code"] is None
    assert [step["status"] for step in collected["history"]] == ["placed", "ready_for_pickup", "collected"]


@pytest.mark.gen_test
async def test_the_same_request_again_answers_the_same_order_and_makes_no_second(shopper, services):
    await shopper.cart_json("add")
    cart = await reviewed(shopper)
    first = await place(shopper, cart)
    assert first.code == 201, first.text

    again = await place(shopper, cart)

    assert again.code == 200, again.text
    assert again.json() == first.json() and again.location == first.location
    assert await services.db.orders.count_documents({}) == 1
    assert (await stock_of(services, PCI))["stock"] == 11


@pytest.mark.gen_test
async def test_a_request_that_finds_the_cart_closed_by_one_still_writing_its_order_answers_that_order(
        shopper, services):
    await shopper.cart_json("add")
    cart = await reviewed(shopper)
    numbering, go_on = asyncio.Event(), asyncio.Event()
    next_seq = services.orders.next_seq

    async def held_after_closing_the_cart():
        numbering.set()
        await go_on.wait()
        return await next_seq()

    services.orders.next_seq = held_after_closing_the_cart
    first = asyncio.ensure_future(place(shopper, cart))
    await numbering.wait()
    second = asyncio.ensure_future(place(shopper, cart))  # finds no open cart: the first closed it
    await asyncio.sleep(0.3)
    go_on.set()

    answers = await asyncio.gather(first, second)
    assert [answer.code for answer in answers] == [201, 200], [answer.text for answer in answers]
    assert answers[0].json() == answers[1].json()
    assert await services.db.orders.count_documents({}) == 1

@pytest.mark.gen_test
async def test_the_same_request_twice_at_once_makes_one_order_and_one_says_it_made_it(shopper, services):
    await shopper.cart_json("add")
    cart = await reviewed(shopper)
    interleave_store_calls(services)  # the two requests overlap, as a client's retry can

    answers = await asyncio.gather(place(shopper, cart), place(shopper, cart))

    assert sorted(answer.code for answer in answers) == [200, 201], [answer.text for answer in answers]
    assert answers[0].json() == answers[1].json() and answers[0].location == answers[1].location
    assert await services.db.orders.count_documents({}) == 1


@pytest.mark.gen_test
@pytest.mark.parametrize(("changes", "status", "says", "fields"), [
    ({"name": ""}, 400, "Tell us your name", {"name"}),
    ({"email": "not an address"}, 400, "email", {"email"}),
    ({"phone": "call me", "note": "x" * 501}, 400, "phone", {"phone", "note"}),
    ({"name": 42, "email": None}, 400, "Send this as a string", {"name", "email"}),
    ({"revision": None}, 400, "Send the cart's `revision` and `prices`", None),
    ({"revision": "1.5"}, 400, "Send the cart's `revision` and `prices`", None),
    ({"revision": True}, 400, "Send the cart's `revision` and `prices`", None),
    ({"prices": None}, 400, "Send the cart's `revision` and `prices`", None),
    ({"revision": 7}, 409, "Your cart changed since you reviewed it", None),
    ({"prices": "0123456789abcdef"}, 409, "A price changed since you reviewed your order", None),
])
async def test_a_refused_order_says_why_and_changes_nothing(shopper, services, changes, status, says, fields):
    await shopper.cart_json("add")
    cart = await reviewed(shopper)
    before = await store_snapshot(services)

    answer = await place(shopper, cart, **changes)

    assert answer.code == status, answer.text
    error = answer.json()["error"]
    assert error["status"] == status and says in error["message"]
    assert (set(error["fields"]) if "fields" in error else None) == fields
    if status == 409:
        assert answer.json()["cart"] == cart  # the cart as it is now, to review again
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_body_that_is_no_json_object_is_refused(shopper, services):
    await shopper.cart_json("add")
    before = await store_snapshot(services)
    for text, says in (("{", "The body is not valid JSON."), ("[1]", "The body must be a JSON object.")):
        answer = await shopper.post_json("/api/orders", text=text)
        assert answer.code == 400 and answer.json()["error"]["message"] == says
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_price_changed_since_the_review_is_refused_with_the_new_cart(shopper, services):
    await shopper.cart_json("add")
    cart = await reviewed(shopper)
    await services.accounts.register(STAFF_EMAIL, PASSWORD, staff=True)
    staff = shopper.another()
    await staff.login(STAFF_EMAIL)
    edit = form_values((await staff.get(f"/edit/{PCI}")).text)
    assert (await staff.post(f"/edit/{PCI}", {**edit, "price": "44.99"})).code == 303
    before = await store_snapshot(services)

    refused = await place(shopper, cart)

    assert refused.code == 409 and "A price changed" in refused.json()["error"]["message"]
    now = refused.json()["cart"]
    assert now["total_cents"] == 4499 and now["prices"] != cart["prices"] and now["revision"] == cart["revision"]
    assert await store_snapshot(services) == before
    placed = await place(shopper, now)
    assert placed.code == 201 and placed.json()["order"]["total_cents"] == 4499


@pytest.mark.gen_test
async def test_an_empty_cart_is_no_order(shopper, services):
    cart = await reviewed(shopper)
    answer = await place(shopper, cart)
    assert answer.code == 400 and "Your cart is empty" in answer.json()["error"]["message"]
    assert await services.db.orders.count_documents({}) == 0


@pytest.mark.gen_test
async def test_orders_are_for_the_signed_in_and_private(shopper, services):
    await shopper.cart_json("add")
    order_url = (await place(shopper, await reviewed(shopper))).location

    visitor = shopper.another()
    for answer in (await visitor.get(order_url), await visitor.get("/api/orders"),
                   await visitor.post_json("/api/orders", {**CONTACT, "revision": 0, "prices": ""})):
        assert answer.code == 401 and answer.json()["error"]["message"] == "Sign in first."
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")

    await services.accounts.register("other@example.com", PASSWORD)
    other = shopper.another()
    await other.login("other@example.com")
    assert (await other.get_json(order_url, status=404))["error"]["message"] == "You have no order with this number."
    assert await other.get_json("/api/orders") == {"orders": []}
    await shopper.get_json("/api/orders/BB-99999", status=404)


@pytest.mark.gen_test
async def test_placing_an_order_from_a_browser_session_needs_the_xsrf_token(shopper, services):
    await shopper.cart_json("add")
    cart = await reviewed(shopper)
    before = await store_snapshot(services)
    answer = await shopper.post_json("/api/orders", {**CONTACT, "revision": cart["revision"],
                                                     "prices": cart["prices"]}, xsrf=False)
    assert answer.code == 403
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_staff_members_program_orders_for_them_with_its_token(staff, services):
    program = staff.program(await staff.create_token("till"))
    assert (await program.post_json("/cart", {"action": "add", "isbn": PCI}, xsrf=False)).code == 200
    cart = await reviewed(program)

    answer = await program.post_json("/api/orders", {**CONTACT, "email": STAFF_EMAIL, "revision": cart["revision"],
                                                     "prices": cart["prices"]}, xsrf=False)

    assert answer.code == 201, answer.text
    assert await staff.get_json("/api/orders") == {"orders": [answer.json()["order"]]}
