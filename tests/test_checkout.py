"""Click-and-collect checkout: review the cart, give a name and contact, place the order; a short order
number, a pickup code and a confirmation mail; the copies leave stock once, however often Place order is sent."""

import asyncio
import re

import pytest

from tests.constants import JSON, PASSWORD, PCI, RESTFUL, SHOPPER_EMAIL, STAFF_EMAIL, STARTER_BOOKS
from tests.mail_server import body_of
from tests.shop_client import cart_count, field_errors, form_values, text_of
from tests.store import interleave_store_calls, stock_of, store_snapshot
from tests.waiting import until

CONTACT = {"name": "Ada Reader", "phone": "+1 555 555 0100", "note": "I'll come on Saturday."}
ORDER_URL = re.compile(r"/orders/BB-(\d{5})")


def price_of(isbn):
    cents = next(book["price_cents"] for book in STARTER_BOOKS if book["isbn"] == isbn)
    return f"${cents // 100}.{cents % 100:02d}"


@pytest.mark.gen_test
async def test_the_review_lists_the_books_and_starts_with_the_accounts_email(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    review = await shopper.get("/checkout")
    assert review.code == 200
    text = text_of(review.text)
    assert "Programming Collective Intelligence 2 $79.98" in text and "Total 2 $79.98" in text
    assert "pay when you collect" in text
    form = form_values(review.text, "/checkout")
    assert (form["name"], form["email"], form["phone"], form["note"]) == ("", SHOPPER_EMAIL, "", "")


@pytest.mark.gen_test
async def test_placing_the_order_shows_its_number_and_pickup_code_and_mails_them(shopper, services, mail):
    for isbn in (PCI, PCI, RESTFUL):
        await shopper.post("/cart", {"action": "add", "isbn": isbn})
    restful_before = await stock_of(services, RESTFUL)

    response = await shopper.check_out(**CONTACT)
    assert response.code == 303
    assert ORDER_URL.fullmatch(response.location)
    order = await services.db.orders.find_one()
    assert response.location == f"/orders/{order['number']}"
    assert re.fullmatch(r"\d{6}", order["pickup_code"])
    assert (order["status"], order["payment"]) == ("placed", {"method": "pay_at_pickup", "status": "due"})
    assert (order["name"], order["email"], order["phone"], order["note"]) == (
        "Ada Reader", SHOPPER_EMAIL, "+1 555 555 0100", "I'll come on Saturday.")

    confirmation = await shopper.get(response.location)
    text = text_of(confirmation.text)
    assert f"Order {order['number']}" in text and "Thank you for your order" in text
    assert f"Pickup code {order['pickup_code']}" in text and "Status Placed" in text
    assert "Programming Collective Intelligence 2 $79.98" in text
    assert re.search(r"Placed \d{1,2} [A-Z][a-z]{2} 20\d\d, \d\d:\d\d", text)
    assert cart_count(confirmation.text) == 0

    pci = await stock_of(services, PCI)
    assert (pci["stock"], pci["available"]) == (10, 10)
    restful = await stock_of(services, RESTFUL)
    assert (restful["stock"], restful["available"]) == (restful_before["stock"] - 1, restful_before["available"])
    assert "Your cart is empty" in text_of((await shopper.get("/cart")).text)

    await until(lambda: mail.to(SHOPPER_EMAIL), message="no confirmation mail arrived")
    [message] = mail.to(SHOPPER_EMAIL)
    assert message["Subject"] == f"Your order {order['number']} at Burt's Books"
    body = body_of(message)
    assert "Hello Ada Reader" in body and f"pickup code is {order['pickup_code']}" in body
    assert "2 copies of Programming Collective Intelligence: $79.98" in body
    assert f"1 copy of RESTful Web Services: {price_of(RESTFUL)}" in body

    # The order stays: the expiry sweep does not give sold copies back.
    await services.housekeeping(cart_ttl_seconds=0.001)
    assert (await stock_of(services, PCI))["stock"] == 10


@pytest.mark.gen_test
async def test_order_numbers_are_short_and_follow_each_other(shopper, services):
    numbers = []
    for _ in range(2):
        await shopper.post("/cart", {"action": "add", "isbn": PCI})
        numbers.append(ORDER_URL.fullmatch((await shopper.check_out(**CONTACT)).location).group(1))
    assert numbers == ["10001", "10002"]


@pytest.mark.gen_test
async def test_the_next_checkout_starts_with_the_last_orders_name_and_phone(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    await shopper.check_out(**CONTACT)
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    form = form_values((await shopper.get("/checkout")).text, "/checkout")
    assert (form["name"], form["email"], form["phone"]) == ("Ada Reader", SHOPPER_EMAIL, "+1 555 555 0100")


@pytest.mark.gen_test
async def test_an_anonymous_shopper_is_asked_to_sign_in_and_keeps_the_cart(client, services):
    await client.post("/cart", {"action": "add", "isbn": PCI})
    before = await store_snapshot(services)
    assert (await client.get("/checkout")).location == "/login?next=%2Fcheckout"
    response = await client.post("/checkout", {"name": "Ada", "email": SHOPPER_EMAIL, "revision": "1"})
    assert (response.code, response.location) == (303, "/login?next=%2Fcheckout")
    assert await store_snapshot(services) == before
    assert "Programming Collective Intelligence" in text_of((await client.get("/cart")).text)


@pytest.mark.gen_test
async def test_an_empty_cart_cannot_be_checked_out(shopper, services):
    review = await shopper.get("/checkout")
    assert "Your cart is empty" in text_of(review.text) and "Place order" not in review.text
    before = await store_snapshot(services)
    response = await shopper.post("/checkout", {**CONTACT, "email": SHOPPER_EMAIL, "revision": "0"})
    assert response.code == 400
    assert "Your cart is empty: add a book before checking out." in text_of(response.text)
    assert await store_snapshot(services) == before


@pytest.mark.parametrize("contact, field, message", [
    ({"name": "  "}, "name", "Tell us your name"),
    ({"email": ""}, "email", "Give a valid email address."),
    ({"email": "not-an-email"}, "email", "Give a valid email address."),
    # Each would send the pickup code elsewhere: a mail header reads them as other addresses.
    ({"email": "john,smith@example.org"}, "email", "Give a valid email address."),
    ({"email": "(john)smith@example.org"}, "email", "Give a valid email address."),
    ({"email": 'a"b@example.com'}, "email", "Give a valid email address."),
    ({"email": "ada <ada@example.com>"}, "email", "Give a valid email address."),
    ({"phone": "call me"}, "phone", "Give a phone number like"),
    ({"phone": "12"}, "phone", "Give a phone number like"),
    ({"note": "x" * 501}, "note", "Keep the note under 500 characters."),
])
@pytest.mark.gen_test
async def test_bad_contact_details_are_refused_on_the_form_and_nothing_is_ordered(
        shopper, services, mail, contact, field, message):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    before = await store_snapshot(services)
    response = await shopper.check_out(**{**CONTACT, **contact})
    assert response.code == 400
    assert field_errors(response.text)[field].startswith(message)
    typed = form_values(response.text, "/checkout")
    assert typed[field] == {**CONTACT, "email": SHOPPER_EMAIL, **contact}[field].strip()  # what was typed stays
    assert await store_snapshot(services) == before
    await asyncio.sleep(0.2)
    assert mail.messages == []


@pytest.mark.gen_test
async def test_placing_an_order_needs_the_xsrf_token(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    form = form_values((await shopper.get("/checkout")).text, "/checkout")
    before = await store_snapshot(services)
    response = await shopper.post("/checkout", {**form, **CONTACT}, xsrf=False)
    assert response.code == 403
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_cart_changed_after_the_review_is_shown_again_not_ordered(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    form = form_values((await shopper.get("/checkout")).text, "/checkout")
    await shopper.post("/cart", {"action": "add", "isbn": RESTFUL})  # in another window

    response = await shopper.post("/checkout", {**form, **CONTACT})
    assert response.code == 409
    text = text_of(response.text)
    assert "Your cart changed since you reviewed it" in text and "RESTful Web Services" in text
    assert await services.db.orders.count_documents({}) == 0
    assert (await shopper.post("/checkout", form_values(response.text, "/checkout"))).code == 303


@pytest.mark.gen_test
async def test_a_price_changed_after_the_review_is_shown_again_not_ordered(shopper, services, mail):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    review = await shopper.get("/checkout")
    assert "Total 1 $39.99" in text_of(review.text)
    form = {**form_values(review.text, "/checkout"), **CONTACT}
    await services.accounts.register(STAFF_EMAIL, PASSWORD, staff=True)
    staff = shopper.another()
    await staff.login(STAFF_EMAIL)
    edit = form_values((await staff.get(f"/edit/{PCI}")).text)
    assert (await staff.post(f"/edit/{PCI}", {**edit, "price": "44.99"})).code == 303  # before Place order
    before = await store_snapshot(services)

    response = await shopper.post("/checkout", form)
    assert response.code == 409
    text = text_of(response.text)
    assert "A price changed since you reviewed your order" in text and "Total 1 $44.99" in text
    assert await store_snapshot(services) == before

    assert (await shopper.post("/checkout", form_values(response.text, "/checkout"))).code == 303
    assert [order["total_cents"] async for order in services.db.orders.find()] == [4499]
    await until(lambda: mail.to(SHOPPER_EMAIL), message="no confirmation mail arrived")
    assert "Total: $44.99" in body_of(mail.to(SHOPPER_EMAIL)[0])


@pytest.mark.gen_test
async def test_a_malformed_review_form_is_refused(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    before = await store_snapshot(services)
    response = await shopper.post("/checkout", {**CONTACT, "email": SHOPPER_EMAIL, "revision": "-1"})
    assert response.code == 400 and "reload the page" in text_of(response.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_placing_twice_at_once_makes_one_order(shopper, services, mail):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    form = {**form_values((await shopper.get("/checkout")).text, "/checkout"), **CONTACT}
    interleave_store_calls(services)  # the two requests overlap, as with a real server

    first, second = await asyncio.gather(shopper.post("/checkout", form), shopper.post("/checkout", form))

    assert await services.db.orders.count_documents({}) == 1
    order_url = "/orders/" + (await services.db.orders.find_one())["number"]
    assert (first.code, first.location) == (second.code, second.location) == (303, order_url)
    pci = await stock_of(services, PCI)
    assert (pci["stock"], pci["available"]) == (10, 10)
    await until(lambda: mail.messages, message="no confirmation mail arrived")
    await asyncio.sleep(0.2)
    assert len(mail.messages) == 1


@pytest.mark.gen_test
async def test_a_second_click_on_place_order_shows_the_order_just_placed(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    form = {**form_values((await shopper.get("/checkout")).text, "/checkout"), **CONTACT}
    first = await shopper.post("/checkout", form)
    again = await shopper.post("/checkout", form)
    assert (again.code, again.location) == (303, first.location)
    assert await services.db.orders.count_documents({}) == 1
    assert (await stock_of(services, PCI))["stock"] == 11


@pytest.mark.gen_test
async def test_order_history_shows_titles_quantities_totals_status_and_dates(shopper, services):
    for isbn in (PCI, PCI, RESTFUL):
        await shopper.post("/cart", {"action": "add", "isbn": isbn})
    order_url = (await shopper.check_out(**CONTACT)).location
    number = order_url.rsplit("/", 1)[1]

    history = await shopper.get("/orders")
    assert history.code == 200 and f'href="{order_url}"' in history.text
    text = text_of(history.text)
    assert re.search(
        rf"{number} \d{{1,2}} [A-Z][a-z]{{2}} 20\d\d, \d\d:\d\d 2 \u00d7 Programming Collective Intelligence "
        rf"1 \u00d7 RESTful Web Services \$\d+\.\d\d Placed", text), text


@pytest.mark.gen_test
async def test_orders_are_private(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    order_url = (await shopper.check_out(**CONTACT)).location

    anonymous = shopper.another()
    assert (await anonymous.get(order_url)).code == 302
    assert (await anonymous.get("/orders")).location.startswith("/login")

    await services.accounts.register("other@example.com", PASSWORD)
    other = shopper.another()
    await other.login("other@example.com")
    assert (await other.get(order_url)).code == 404
    assert (await other.get(order_url, headers=JSON)).code == 404
    assert "You have not ordered anything yet." in text_of((await other.get("/orders")).text)
    assert (await shopper.get("/orders/BB-99999")).code == 404
    assert (await shopper.get("/orders/0123456789abcdef01234567")).code == 404
