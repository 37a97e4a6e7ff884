"""Stock at a glance: titles by what needs attention, held and sold counts, restock inline."""

import datetime
import re

import pytest

from burts_books.infra.clock import utcnow
from tests.constants import JSON, PCI, RESTFUL, STAFF_EMAIL, STARTER_BOOKS, isbn_13
from tests.shop_client import forms, offers, text_of
from tests.store import set_stock, stock_of, store_snapshot
from tests.websocket_client import connect, receive, subscribe


def rows(html):
    """[(isbn, attention, stock, available, held, sold)] in page order."""
    found = re.findall(
        r'<tr id="stock-(\d+)" class="attention-([\w-]+)".*?<td class="stock">(\d+)</td>\s*'
        r'<td class="available">(\d+)</td>\s*<td class="held">(\d+)</td>\s*<td class="sold">(-?\d+)</td>', html, re.S)
    return [(isbn, attention, *map(int, counts)) for isbn, attention, *counts in found]


@pytest.mark.settings(low_stock_threshold=3)  # no starter book has fewer than 4 copies
@pytest.mark.gen_test
async def test_sold_out_then_low_then_the_rest_with_held_and_sold_counts(staff, services):
    await set_stock(services, 0, isbn=RESTFUL)
    await set_stock(services, 4, available=3, isbn=PCI)  # one copy in a cart
    shopper = staff.another()
    for _ in range(2):
        await shopper.post("/cart", {"action": "add", "isbn": PCI})
    await shopper.login(STAFF_EMAIL)  # staff shop too; the cart goes with the account
    assert (await shopper.check_out(name="A. Reader", phone="555 0100")).code == 303

    page = (await staff.get("/staff/stock")).text
    shown = rows(page)
    assert shown[0] == (RESTFUL, "sold-out", 0, 0, 0, 0)
    assert shown[1] == (PCI, "low", 2, 1, 1, 2)  # 2 sold, one still held
    assert {attention for _, attention, *_ in shown[2:]} == {"ok"}
    assert len(shown) == len(STARTER_BOOKS)
    assert "1 sold out, 1 low (fewer than 3 available)" in text_of(page)


@pytest.mark.gen_test
async def test_an_order_placed_before_the_month_and_cancelled_in_it_counts_in_neither(staff, services):
    shopper = staff.another()
    for _ in range(2):
        await shopper.post("/cart", {"action": "add", "isbn": PCI})
    await shopper.login(STAFF_EMAIL)
    assert (await shopper.check_out(name="A. Reader", phone="555 0100")).code == 303
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    assert (await shopper.check_out(name="A. Reader", phone="555 0100")).code == 303
    first, _ = await services.db.orders.find({}).sort("seq", 1).to_list(None)
    # The first was placed 31 days ago and never collected; staff cancel it today.
    await services.db.history.update_many({"kind": "sale", "order": first["number"]},
                                          {"$set": {"at": utcnow() - datetime.timedelta(days=31)}})
    await services.orders.cancel(first, await services.accounts.by_email(STAFF_EMAIL))

    [pci] = [row for row in rows((await staff.get("/staff/stock")).text) if row[0] == PCI]
    assert pci[-1] == 1  # the second order's copy: the first sold before these 30 days


@pytest.mark.settings(low_stock_threshold=10)
@pytest.mark.gen_test
async def test_shoppers_and_staff_agree_which_books_are_low_as_the_setting_says(staff, services):
    stocks = {book["isbn"]: book["stock"] for book in STARTER_BOOKS}
    assert {9, 10} <= set(stocks.values())  # each side of the threshold
    staff_low = {isbn for isbn, attention, *_ in rows((await staff.get("/staff/stock")).text) if attention == "low"}
    visitor = staff.another()
    listing = offers((await visitor.get("/books/")).text)
    shopper_low = set()
    for isbn, stock in stocks.items():
        page = (await visitor.get(f"/books/{isbn}")).text
        line = re.search(r'<p class="availability([^"]*)"><span class="count"[^>]*>(.*?)</span>', page)
        low = line.groups() == (" low", f"Only {stock} left")
        assert low or line.groups() == ("", "In stock")
        if low:
            shopper_low.add(isbn)
        assert 'data-low-stock="10"' in page  # the live script words later counts the same way
        if isbn in listing:
            assert text_of(listing[isbn]).startswith(f"Only {stock} left" if low else "In stock")
    assert shopper_low == staff_low == {isbn for isbn, stock in stocks.items() if stock < 10}


@pytest.mark.gen_test
async def test_the_stock_page_is_paged(staff, services):
    form = {"title": "Filler", "author": "A. Writer", "price": "1", "stock": "9"}
    for number in range(45):
        await services.catalog.add({**form, "isbn": isbn_13(number)}, STAFF_EMAIL)
    first = (await staff.get("/staff/stock")).text
    second = (await staff.get("/staff/stock?page=2")).text
    assert len(rows(first)) == 50 and len(rows(second)) == len(STARTER_BOOKS) + 45 - 50
    assert not {row[0] for row in rows(first)} & {row[0] for row in rows(second)}
    assert "Page 2 of 2" in text_of(second)


@pytest.mark.gen_test
async def test_restock_inline_says_what_it_did(staff, services):
    page = (await staff.get("/staff/stock")).text
    row_forms = [form.values for form in forms(page) if form.action == "/staff/stock?page=1"]
    assert {"isbn": PCI, "copies": ""} in row_forms and len(row_forms) == len(STARTER_BOOKS)
    response = await staff.post("/staff/stock?page=1", {"isbn": PCI, "copies": "5"})
    assert (response.code, response.location) == (303, f"/staff/stock?page=1#stock-{PCI}")
    page = await staff.get(response.location)
    assert "Restocked 5 copies of “Programming Collective Intelligence”: 17 available now." in text_of(page.text)
    assert (await stock_of(services))["stock"] == 17
    # Said once: the next page no longer says it.
    assert "Restocked" not in text_of((await staff.get("/staff/stock")).text)


@pytest.mark.parametrize("copies", ["0", "lots", ""])
@pytest.mark.gen_test
async def test_a_bad_inline_restock_is_shown_on_its_row(staff, services, copies):
    before = await store_snapshot(services)
    response = await staff.post("/staff/stock", {"isbn": PCI, "copies": copies})
    assert response.code == 400
    assert (f'<span class="error" id="e-copies-{PCI}">Give the number of copies that arrived: '
            "a whole number from 1 to 100000.</span>") in response.text
    assert f'aria-describedby="e-copies-{PCI}" autofocus>' in response.text  # the keyboard is there, not at the top
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_restock_of_one_copy_says_one_copy(staff):
    response = await staff.post("/staff/stock?page=1", {"isbn": PCI, "copies": "1"})
    assert "Restocked 1 copy of “Programming Collective Intelligence”: 13 available now." in text_of(
        (await staff.get(response.location)).text)


@pytest.mark.gen_test
async def test_the_stock_page_and_its_restock_are_for_staff_only(shopper, services):
    before = await store_snapshot(services)
    assert (await shopper.get("/staff/stock")).code == 403
    assert (await shopper.post("/staff/stock", {"isbn": PCI, "copies": "5"})).code == 403
    anonymous = shopper.another()
    assert (await anonymous.get("/staff/stock")).location == "/login?next=%2Fstaff%2Fstock"
    assert (await anonymous.post("/staff/stock", {"isbn": PCI, "copies": "5"})).code == 303
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_restock_inline_needs_the_xsrf_token(staff, services):
    before = await store_snapshot(services)
    assert (await staff.post("/staff/stock", {"isbn": PCI, "copies": "5"}, xsrf=False)).code == 403
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_the_page_watches_its_titles_on_the_shoppers_feed(staff, services, base_url):
    page = (await staff.get("/staff/stock")).text
    assert 'src="/static/js/staff_stock.js' in page
    assert re.search(rf'<tr [^>]*data-live-stock data-isbn="{PCI}"[^>]*data-version="1" data-stock="12">', page)
    # What its script does: subscribe to the rows' ISBNs and hear a shopper's add.
    socket = await connect(base_url, origin=base_url)
    subscribe(socket, [PCI])
    assert (await receive(socket))["available"] == 12
    await staff.another().post("/cart", {"action": "add", "isbn": PCI}, headers=JSON)
    assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 11, "version": 2}
    socket.close()


@pytest.mark.gen_test
async def test_the_edit_form_shows_copies_held_in_carts(staff, services):
    await staff.another().post("/cart", {"action": "add", "isbn": PCI})
    html = (await staff.get(f"/edit/{PCI}")).text
    assert "1 of them held in shoppers' carts; 11 available." in text_of(html)
    # Kept live by the stock page's script, from the version and stock shown.
    assert re.search(rf'<p class="stock-line" data-live-stock data-isbn="{PCI}"[^>]*data-version="2" data-stock="12">',
                     html)
    assert 'src="/static/js/staff_stock.js' in html


@pytest.mark.gen_test
async def test_a_sale_reaches_the_feed_and_the_stock_api_gives_the_rows_new_figures(staff, services, base_url):
    shopper = staff.another()
    for _ in range(2):
        await shopper.post("/cart", {"action": "add", "isbn": PCI})
    socket = await connect(base_url, origin=base_url)
    subscribe(socket, [PCI])
    assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 10, "version": 3}
    await shopper.login(STAFF_EMAIL)
    assert (await shopper.check_out(name="A. Reader", phone="555 0100")).code == 303
    # No shopper's count moves, but the version does: the stock page reads its row again.
    assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 10, "version": 4}
    socket.close()

    answer = await staff.get_json(f"/api/stock?isbn={RESTFUL}&isbn=0-596-52932-5&isbn={PCI}")
    assert answer == {"books": [
        {"isbn": RESTFUL, "title": "RESTful Web Services", "stock": 9, "available": 9, "held": 0, "sold": 0,
         "version": 1},
        {"isbn": PCI, "title": "Programming Collective Intelligence", "stock": 10, "available": 10, "held": 0,
         "sold": 2, "version": 4},
    ]}
    [pci] = [row for row in rows((await staff.get("/staff/stock")).text) if row[0] == PCI]
    assert pci[2:] == (10, 10, 0, 2)  # the page says the same


@pytest.mark.parametrize("query, status, message", [
    ("", 400, "Say which books"),
    ("?isbn=12345", 400, "Not a valid ISBN"),
    ("?" + "&".join(f"isbn={isbn_13(n)}" for n in range(101)), 400, "at most 100 books"),
    (f"?isbn={PCI}&isbn=9780000000002", 404, "No book with ISBN 9780000000002"),
])
@pytest.mark.gen_test
async def test_the_stock_api_says_what_is_wrong_with_a_request(staff, services, query, status, message):
    before = await store_snapshot(services)
    answer = await staff.get_json(f"/api/stock{query}", status=status)
    assert message in answer["error"]["message"]
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_the_stock_api_is_for_staff_only(client, shopper, services):
    assert (await client.another().get_json(f"/api/stock?isbn={PCI}", status=401))["error"]["status"] == 401
    assert (await shopper.get_json(f"/api/stock?isbn={PCI}", status=403))["error"]["status"] == 403


@pytest.mark.gen_test
async def test_a_staff_members_program_reads_the_stock_with_its_api_token(staff, services):
    program = staff.another().program(await staff.create_token("stock report"))
    [book] = (await program.get_json(f"/api/stock?isbn={PCI}"))["books"]
    assert (book["isbn"], book["stock"], book["held"]) == (PCI, 12, 0)
