"""Staff orders under /staff/orders: the list of every order (newest first, by status, searched by number,
name or email, in pages) kept live as orders arrive; an order's page and its actions (ready for pickup,
collected with the pickup code, cancelled with its copies back on sale), each said on the page it leads to,
each refused step said there too with nothing changed; staff only, XSRF on every change."""

import asyncio
import dataclasses
import re
import urllib.parse

import pytest

from burts_books.infra import migrations
from burts_books.infra.bus import RedisBus
from burts_books.order_feed import OrderFeed
from burts_books.orders import STAFF_PAGE_SIZE, Contact
from tests.constants import (
    ADDRESS,
    COOKIE_SECRET,
    JSON,
    PASSWORD,
    PCI,
    RESTFUL,
    SHOPPER_EMAIL,
    STAFF_EMAIL,
    STARTER_BOOKS,
)
from tests.mail_server import body_of
from tests.shop_client import form_values, forms, text_of
from tests.store import close_test_services, open_test_services, stock_of
from tests.waiting import result_of, until
from tests.websocket_client import connect, receive, subscribe

BUYER = "Ada Reader"
ADA = Contact(BUYER, SHOPPER_EMAIL)


@pytest.fixture
def people(make_user):
    """(a shopper, a staff member), not signed in."""
    return make_user(SHOPPER_EMAIL), make_user(STAFF_EMAIL, staff=True)


@pytest.fixture
def desk(client, people, io_loop):
    """A browser signed in as staff."""
    io_loop.run_sync(lambda: client.login(STAFF_EMAIL))
    return client


async def an_order(services, buyer, isbns=(PCI, PCI), contact=ADA):
    cart = None
    for isbn in isbns:
        cart, _ = await services.carts.add(cart, buyer, isbn, ADDRESS)
    return (await services.orders.place(cart, buyer, contact)).order


def numbers_listed(html):
    """The order numbers the list shows, in page order."""
    return re.findall(r'<tr id="order-(BB-\d+)">', html)


def flash_of(html):
    found = re.search(r'<p class="flash" role="status">(.*?)</p>', html, re.S)
    return text_of(found.group(1)) if found else None


def alert_of(html):
    found = re.search(r'<p class="form-error" role="alert">(.*?)</p>', html, re.S)
    return text_of(found.group(1)) if found else None


async def act(browser, number, action, **form):
    """Submit an action's form as the order page shows it; returns the answer."""
    page = await browser.get(f"/staff/orders/{number}")
    path = f"/staff/orders/{number}/{action}"
    return await browser.post(path, {**form_values(page.text, path), **form})


async def status_of(services, number):
    return (await services.orders.by_number(number))["status"]


# -- rights and XSRF ----------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_anonymous_visitors_are_sent_to_sign_in_and_shoppers_refused(client, services, people):
    shopper, _ = people
    order = await an_order(services, shopper)
    number = order["number"]
    pages = ["/staff/orders", f"/staff/orders/{number}"]
    for path in pages:
        response = await client.get(path)
        assert (response.code, response.location) == (302, f"/login?next={urllib.parse.quote(path, safe='')}")
    for action in ("ready", "collected", "cancel"):
        response = await client.post(f"/staff/orders/{number}/{action}", {"pickup_code": order["pickup_code"]})
        assert response.code == 303 and response.location.startswith("/login?next=")
    assert (await client.get("/staff/orders/watch?after=0", headers=JSON)).code == 401

    await client.login(SHOPPER_EMAIL)
    for path in [*pages, "/staff/orders/watch?after=0"]:
        assert (await client.get(path)).code == 403
    for action in ("ready", "collected", "cancel"):
        response = await client.post(f"/staff/orders/{number}/{action}", {"pickup_code": order["pickup_code"]})
        assert response.code == 403
    assert await status_of(services, number) == "placed"


@pytest.mark.gen_test
async def test_an_action_without_the_xsrf_token_is_refused_and_changes_nothing(desk, services, people):
    order = await an_order(services, people[0])
    for action in ("ready", "cancel"):
        response = await desk.post(f"/staff/orders/{order['number']}/{action}", {}, xsrf=False)
        assert response.code == 403
    assert await status_of(services, order["number"]) == "placed"
    assert (await stock_of(services))["stock"] == 10


# -- the list ------------------------------------------------------------------------------------


@pytest.mark.gen_test
async def test_the_list_shows_every_shoppers_orders_newest_first_with_contact_and_status(
        desk, services, people, make_user):
    shopper, staff = people
    other = await services.accounts.register("zoe@example.com", PASSWORD)
    first = await an_order(services, shopper)
    second = await an_order(services, other, (RESTFUL,), Contact("Zoë Quill", "zoe@example.com"))
    await services.orders.mark_ready(first, staff)

    page = await desk.get("/staff/orders")
    assert page.code == 200
    assert numbers_listed(page.text) == [second["number"], first["number"]]
    text = text_of(page.text)
    assert f"{second['number']}" in text and "Zoë Quill zoe@example.com 1" in text and "Placed" in text
    assert f"{BUYER} {SHOPPER_EMAIL} 2 $79.98 Ready for pickup" in text
    assert '<a href="/staff/orders">Orders</a>' in (await desk.get("/staff/stock")).text  # the back office's nav


@pytest.mark.gen_test
async def test_the_list_filters_by_status_and_finds_by_number_name_or_email(desk, services, people):
    shopper, staff = people
    ada = await an_order(services, shopper)
    bob = await an_order(services, shopper, (RESTFUL,), Contact("Bob Bookish", "bob.b@example.org"))
    await services.orders.mark_ready(bob, staff)

    async def listed(query):
        page = await desk.get(f"/staff/orders?{query}")
        assert page.code == 200, page.text
        return numbers_listed(page.text)

    assert await listed("status=ready_for_pickup") == [bob["number"]]
    assert await listed("status=placed") == [ada["number"]]
    assert await listed("status=collected") == []
    assert await listed(f"q={bob['number']}") == [bob["number"]]
    assert await listed(f"q={ada['number'].lower()}") == [ada["number"]]
    assert await listed("q=bookish") == [bob["number"]]
    assert await listed("q=Ada+READER") == [ada["number"]]
    assert await listed("q=Ada+Rea") == []  # whole words: what every engine finds by index
    assert await listed("q=bob.b%40example.org") == [bob["number"]]
    assert await listed(f"q={SHOPPER_EMAIL}") == [ada["number"]]
    assert await listed("q=bob&status=placed") == []
    assert "No orders match" in text_of((await desk.get("/staff/orders?q=nobody")).text)
    assert await listed("q=.*") == [bob["number"], ada["number"]]  # no words: no search, and no regex

    page = await desk.get("/staff/orders?q=bob&status=ready_for_pickup")
    assert 'value="bob"' in page.text and '<option value="ready_for_pickup" selected>' in page.text


@pytest.mark.gen_test
async def test_an_unknown_status_or_page_gets_a_clear_message(desk, services, people):
    await an_order(services, people[0])
    page = await desk.get("/staff/orders?status=lost")
    assert page.code == 400
    assert re.search(r'<span class="error" id="e-status">Choose a status from the list.</span>', page.text)
    assert numbers_listed(page.text) == []
    page = await desk.get("/staff/orders?page=0")
    assert page.code == 400 and "The page must be a whole number from 1 to 10,000." in page.text


@pytest.mark.gen_test(timeout=30)
async def test_the_list_comes_in_pages_that_keep_the_filters(desk, services, people):
    shopper, _ = people
    isbns = [book["isbn"] for book in STARTER_BOOKS]
    placed = [await an_order(services, shopper, (isbns[n % len(isbns)],), Contact(f"Reader {n}", SHOPPER_EMAIL))
              for n in range(STAFF_PAGE_SIZE + 1)]
    newest_first = [order["number"] for order in reversed(placed)]

    first = await desk.get("/staff/orders")
    assert numbers_listed(first.text) == newest_first[:STAFF_PAGE_SIZE]
    assert "Page 1 of 2" in text_of(first.text) and f"{STAFF_PAGE_SIZE + 1} orders" in text_of(first.text)
    assert re.search(r'<a rel="next" href="/staff/orders\?page=2">', first.text)
    second = await desk.get("/staff/orders?page=2")
    assert numbers_listed(second.text) == newest_first[STAFF_PAGE_SIZE:]

    filtered = await desk.get("/staff/orders?q=reader&status=placed")
    assert re.search(r'<a rel="next" href="/staff/orders\?status=placed&amp;q=reader&amp;page=2">', filtered.text)


# -- the live list ---------------------------------------------------------------------------------


async def watch(browser, after, status=200):
    """The list script's long poll: what it answers, once it does."""
    response = await browser.get(f"/staff/orders/watch?after={after}", headers=JSON)
    assert response.code == status, response.text
    return response.json()


def newest_on(html):
    return int(re.search(r'data-newest="(\d+)"', html).group(1))


@pytest.mark.gen_test
async def test_a_waiting_list_hears_of_a_new_order_at_once(desk, services, people, client):
    shopper = client.another()
    await shopper.login(SHOPPER_EMAIL)
    page = await desk.get("/staff/orders")
    newest = newest_on(page.text)
    assert newest == 0 and "No orders yet" in text_of(page.text)

    waiting = asyncio.ensure_future(watch(desk, newest))
    await asyncio.sleep(0.2)
    assert not waiting.done() and len(services.order_feed) == 1
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    placed = await shopper.check_out(name=BUYER)
    assert placed.code == 303

    assert await result_of(waiting, message="the list's poll did not answer the new order") == {
        "newest": 1, "changed": True}
    page = await desk.get("/staff/orders")
    assert numbers_listed(page.text) == [placed.location.rsplit("/", 1)[1]] and newest_on(page.text) == 1
    # A poll that comes late still learns of it; one up to date waits for the next.
    assert await watch(desk, 0) == {"newest": 1, "changed": True}
    assert len(services.order_feed) == 0


@pytest.mark.gen_test
async def test_a_status_change_wakes_the_list_and_a_quiet_shop_answers_at_the_timeout(desk, services, people):
    order = await an_order(services, people[0])
    waiting = asyncio.ensure_future(watch(desk, 1))
    await until(lambda: len(services.order_feed) == 1)
    assert "burts_books_staff_order_polls_held 1.0" in (await desk.get("/metrics")).text
    await services.orders.mark_ready(order, people[1])
    assert await result_of(waiting) == {"newest": 1, "changed": True}

    quiet = await watch(desk, 1)  # the tests' long-poll timeout is 2 s
    assert quiet == {"newest": 1, "changed": False}
    assert len(services.order_feed) == 0


@pytest.mark.gen_test
async def test_a_bad_cursor_gets_a_clear_json_error(desk):
    for after in ("", "-1", "x", "1" * 12):
        answer = await watch(desk, after, status=400)
        assert "?after=" in answer["error"]["message"]


@pytest.mark.gen_test(timeout=10)
async def test_an_order_placed_in_another_process_wakes_the_list_through_redis(redis_server, settings, people):
    # This test's shop publishes on Redis; a second bus stands for another process's.
    shop_settings = dataclasses.replace(settings, redis_url=redis_server.url)
    services = await open_test_services(shop_settings)
    other = RedisBus(redis_server.url, [COOKIE_SECRET])
    await other.start()
    try:
        shopper = await services.accounts.register("far@example.com", PASSWORD)
        feed = OrderFeed(other, services.orders)
        waiting = asyncio.ensure_future(feed.wait(feed.waiter(), 0, 5))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await an_order(services, shopper, contact=Contact(BUYER, "far@example.com"))
        assert await result_of(waiting) == (1, True)
    finally:
        await other.stop()
        await close_test_services(shop_settings, services)


# -- an order's page and its actions -----------------------------------------------------------------


@pytest.mark.gen_test
async def test_the_order_page_shows_items_contact_pickup_code_and_the_next_steps(desk, services, people):
    order = await an_order(services, people[0], (PCI, PCI, RESTFUL),
                           Contact(BUYER, SHOPPER_EMAIL, "+1 555 555 0100", "After 5 pm"))
    page = await desk.get(f"/staff/orders/{order['number']}")
    assert page.code == 200
    text = text_of(page.text)
    assert f"Order {order['number']}" in text and "Status Placed" in text
    assert f"Pickup code {order['pickup_code']}" in text and "Payment Due at pickup" in text
    assert f"Name {BUYER} Email {SHOPPER_EMAIL} Phone +1 555 555 0100 Note After 5 pm" in text
    assert "Programming Collective Intelligence 2 $79.98" in text and "RESTful Web Services 1" in text
    assert "Placed: " in text and f"by {SHOPPER_EMAIL}" in text
    assert [form.action for form in forms(page.text) if form.method == "post"][-2:] == [
        f"/staff/orders/{order['number']}/ready", f"/staff/orders/{order['number']}/cancel"]
    assert (await desk.get("/staff/orders/BB-99999")).code == 404


@pytest.mark.gen_test
async def test_ready_then_collected_with_the_pickup_code_each_confirmed_recorded_and_mailed(
        desk, services, people, mail):
    order = await an_order(services, people[0])
    number = order["number"]

    ready = await act(desk, number, "ready")
    assert (ready.code, ready.location) == (303, f"/staff/orders/{number}")
    page = await desk.get(ready.location)
    assert flash_of(page.text) == f"Order {number} marked ready for pickup; {SHOPPER_EMAIL} was told by mail."
    assert "Status Ready for pickup" in text_of(page.text)
    assert flash_of((await desk.get(ready.location)).text) is None  # said once
    await until(lambda: len(mail.to(SHOPPER_EMAIL)) == 2, message="no mail saying the order is ready")
    assert mail.to(SHOPPER_EMAIL)[1]["Subject"] == f"Your order {number} is ready for pickup"
    assert order["pickup_code"] in body_of(mail.to(SHOPPER_EMAIL)[1])

    collected = await act(desk, number, "collected", pickup_code=f" {order['pickup_code']} ")
    assert collected.code == 303
    page = await desk.get(collected.location)
    assert flash_of(page.text) == f"Order {number} marked collected and paid."
    text = text_of(page.text)
    assert "Status Collected" in text and "Payment Paid" in text and "Next step" not in text
    assert re.search(rf"Ready for pickup: [^:]+:\d\d, by {STAFF_EMAIL} Collected: [^:]+:\d\d, by {STAFF_EMAIL}", text)
    stored = await services.orders.by_number(number)
    assert [(step["status"], step["by"]) for step in stored["history"]] == [
        ("placed", SHOPPER_EMAIL), ("ready_for_pickup", STAFF_EMAIL), ("collected", STAFF_EMAIL)]
    assert (await stock_of(services))["stock"] == 10  # collected copies stay sold


@pytest.mark.gen_test
async def test_a_wrong_pickup_code_is_said_on_the_order_page_and_changes_nothing(desk, services, people):
    order = await an_order(services, people[0])
    await services.orders.mark_ready(order, people[1])
    wrong = "000000" if order["pickup_code"] != "000000" else "111111"
    for code in (wrong, ""):
        refused = await act(desk, order["number"], "collected", pickup_code=code)
        assert refused.code == 400
        message = re.search(r'<span class="error" id="e-pickup-code">(.*?)</span>', refused.text).group(1)
        assert text_of(message) == ("That pickup code is not this order's: ask the shopper for the code in "
                                    "their mail. Nothing was changed.")
        assert 'aria-invalid="true"' in refused.text and "Status Ready for pickup" in text_of(refused.text)
    stored = await services.orders.by_number(order["number"])
    assert (stored["status"], stored["payment"]["status"], len(stored["history"])) == ("ready_for_pickup", "due", 2)


@pytest.mark.gen_test
async def test_a_step_someone_else_already_took_is_said_on_the_order_page(desk, services, people):
    order = await an_order(services, people[0])
    page = await desk.get(f"/staff/orders/{order['number']}")
    path = f"/staff/orders/{order['number']}/ready"
    await services.orders.cancel(order, people[1])  # another staff member, meanwhile

    refused = await desk.post(path, form_values(page.text, path))
    assert refused.code == 409
    assert alert_of(refused.text) == (f"Order {order['number']} is cancelled: it can't be marked ready for pickup. "
                                      "Nothing was changed.")
    assert await status_of(services, order["number"]) == "cancelled"


@pytest.mark.gen_test
async def test_cancelling_puts_the_copies_back_where_a_long_poll_and_a_websocket_see_them(
        desk, services, people, base_url, mail):
    order = await an_order(services, people[0])
    before = await stock_of(services)
    assert (before["stock"], before["available"]) == (10, 10)
    socket = await connect(base_url)
    subscribe(socket, [PCI])
    assert (await receive(socket))["available"] == 10
    poll = asyncio.ensure_future(desk.another().poll((PCI, before["inventory_version"])))

    cancelled = await act(desk, order["number"], "cancel")

    assert cancelled.code == 303
    assert (await receive(socket))["available"] == 12
    assert (await result_of(poll))[0]["available"] == 12
    after = await stock_of(services)
    assert (after["stock"], after["available"]) == (12, 12)
    page = await desk.get(cancelled.location)
    assert flash_of(page.text) == (f"Order {order['number']} cancelled; its copies are on sale again and "
                                   f"{SHOPPER_EMAIL} was told by mail.")
    assert "Status Cancelled" in text_of(page.text) and "Payment Nothing due" in text_of(page.text)
    await until(lambda: any(m["Subject"] == f"Your order {order['number']} was cancelled" for m in mail.messages),
                message="no mail saying the order was cancelled")
    again = await desk.post(f"/staff/orders/{order['number']}/cancel", {})
    assert again.code == 409 and (await stock_of(services))["stock"] == 12  # put back once
    socket.close()


@pytest.mark.gen_test
async def test_the_migration_gives_earlier_orders_their_seq_and_keywords(empty_db):
    this, *_ = [path for path in migrations.available() if path.stem.endswith("_staff_orders")]
    for path in migrations.available():
        if path.stem < this.stem:
            await migrations._load(path).up(empty_db)
    await empty_db.orders.insert_one({"number": "BB-10007", "name": "Émile Zola", "email": "emile@example.fr",
                                      "status": "placed", "created_at": None, "lines": []})
    await migrations._load(this).up(empty_db)
    await migrations._load(this).up(empty_db)  # harmless again
    order = await empty_db.orders.find_one()
    assert order["seq"] == 7
    assert (await empty_db.counters.find_one({"_id": "orders_written"}))["value"] == 7
    assert order["keywords"] == ["10007", "bb", "emile", "example", "fr", "zola"]


@pytest.mark.gen_test
async def test_shutting_down_answers_waiting_lists_at_once_so_they_poll_another_process(desk, services):
    waiting = asyncio.ensure_future(watch(desk, 0))
    await until(lambda: len(services.order_feed) == 1)
    services.order_feed.end_all()  # as `burts-books serve` does on SIGTERM
    assert await result_of(waiting, timeout=1) == {"newest": 0, "changed": False}
    assert await result_of(watch(desk, 0), timeout=1) == {"newest": 0, "changed": False}


async def order_entries(services, number):
    """The change history's entries naming this order, oldest first, as stored (what, who, which book, copies)."""
    found = services.db.history.find({"order": number}).sort([("at", 1), ("_id", 1)])
    return [(entry["kind"], entry["who"], entry.get("isbn"), entry.get("copies"))
            for entry in await found.to_list(None)]


@pytest.mark.gen_test
async def test_every_action_is_in_the_change_history_and_a_refused_one_is_not(desk, services, people):
    collected, cancelled = await an_order(services, people[0]), await an_order(services, people[0], (PCI, RESTFUL))
    await act(desk, collected["number"], "ready")
    wrong = "000000" if collected["pickup_code"] != "000000" else "111111"
    assert (await act(desk, collected["number"], "collected", pickup_code=wrong)).code == 400
    await act(desk, collected["number"], "collected", pickup_code=collected["pickup_code"])
    await act(desk, cancelled["number"], "cancel")

    assert await order_entries(services, collected["number"]) == [
        ("sale", SHOPPER_EMAIL, PCI, -2), ("ready_for_pickup", STAFF_EMAIL, None, None),
        ("collected", STAFF_EMAIL, None, None)]
    assert await order_entries(services, cancelled["number"]) == [
        ("sale", SHOPPER_EMAIL, PCI, -1), ("sale", SHOPPER_EMAIL, RESTFUL, -1), ("cancelled", STAFF_EMAIL, None, None),
        ("cancellation", STAFF_EMAIL, PCI, 1), ("cancellation", STAFF_EMAIL, RESTFUL, 1)]
    assert await services.db.orders.count_documents({"history_pending.0": {"$exists": True}}) == 0  # drained at once

    page = await desk.get("/staff/history?kind=ready_for_pickup")
    assert f"{STAFF_EMAIL} ready for pickup: order {collected['number']}" in text_of(page.text)
    assert f'<a href="/staff/orders/{collected["number"]}">' in page.text
