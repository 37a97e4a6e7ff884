"""The cart page: covers, linked titles, a quantity per line, line totals and subtotal, the way on; every cart
action back where the shopper was; and holds that end said plainly, before and after."""

import asyncio
import re

import pytest

from burts_books.carts import LAPSED_MESSAGE
from tests.constants import JSON, PCI, RESTFUL
from tests.shop_client import text_of
from tests.store import age_carts, interleave_store_calls, set_stock, stock_of, store_snapshot

ON_CART = {"next": "/cart"}


async def set_copies(client, copies, isbn=PCI, **extra):
    return await client.post("/cart", {"action": "set", "isbn": isbn, "quantity": str(copies), **ON_CART, **extra})


async def held(services, isbn=PCI):
    book = await stock_of(services, isbn)
    return book["stock"] - book["available"]


@pytest.mark.gen_test
async def test_the_cart_page_shows_covers_links_quantities_line_totals_and_the_way_on(client, services):
    for isbn in (PCI, PCI, RESTFUL):
        await client.post("/cart", {"action": "add", "isbn": isbn})
    page = await client.get("/cart")
    assert re.search(rf'<img class="cart-cover" src="/static/images/{PCI}\.svg\?v=\w+"', page.text)  # cache-busted
    assert f'<a class="cart-title" href="/books/{PCI}">Programming Collective Intelligence</a>' in page.text
    assert re.search(r'<option value="2" selected>2</option>', page.text)
    text = text_of(page.text)
    assert "Programming Collective Intelligence $39.99" in text and "$79.98" in text
    assert re.search(r"Subtotal, 3 copies \$\d+\.\d\d", text)
    assert 'href="/books/">Continue shopping</a>' in page.text and 'href="/checkout">Checkout</a>' in page.text
    assert re.search(r"We hold these copies for you until \d\d:\d\d", text)


@pytest.mark.gen_test
async def test_setting_a_quantity_takes_or_gives_back_exactly_that_many_copies(client, services):
    await client.post("/cart", {"action": "add", "isbn": PCI})
    response = await set_copies(client, 4, expected="1")
    assert (response.code, response.location) == (303, "/cart")
    assert await held(services) == 4
    assert "Subtotal, 4 copies $159.96" in text_of((await client.get("/cart")).text)

    assert (await set_copies(client, 2)).location == "/cart"
    assert await held(services) == 2
    assert (await set_copies(client, 0)).location == "/cart"
    assert await held(services) == 0
    assert "Your cart is empty" in text_of((await client.get("/cart")).text)


@pytest.mark.gen_test
async def test_a_quantity_the_shop_does_not_have_is_refused_on_the_cart_page(client, services):
    await set_stock(services, 3)
    await client.post("/cart", {"action": "add", "isbn": PCI})
    before = await store_snapshot(services)
    response = await set_copies(client, 5)
    assert response.code == 409
    assert "Sorry, only 2 more copies are on sale: choose fewer." in text_of(response.text)
    assert "Your cart" in text_of(response.text) and await store_snapshot(services) == before
    assert re.findall(r'<option value="(\d+)"', response.text) == ["0", "1", "2", "3"]  # what can be chosen


@pytest.mark.parametrize("quantity", ["11", "-1", "two", "", "1.5"])
@pytest.mark.gen_test
async def test_a_bad_quantity_is_refused_and_changes_nothing(client, services, quantity):
    await client.post("/cart", {"action": "add", "isbn": PCI})
    before = await store_snapshot(services)
    response = await set_copies(client, quantity)
    assert response.code == 400
    assert "Choose between 0 and 10 copies." in text_of(response.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_two_windows_setting_the_same_line_at_once_do_not_add_up(client, services):
    await client.post("/cart", {"action": "add", "isbn": PCI})
    other_window = client.another()
    other_window.cookies = dict(client.cookies)
    interleave_store_calls(services)

    answers = await asyncio.gather(set_copies(client, 3), set_copies(other_window, 4))

    holds = (await services.db.carts.find_one())["holds"][PCI]
    assert holds in (3, 4) and await held(services) == holds  # what one of them asked, never 1 + 2 + 3
    assert sorted(answer.code for answer in answers) in ([303, 303], [303, 409])
    assert await services.inventory.reconcile(services.carts.held_copies) == []


@pytest.mark.gen_test
async def test_every_cart_action_returns_where_the_shopper_was_and_remove_one_stays_on_the_cart(client, services):
    for action in ("add", "add", "remove"):
        response = await client.post("/cart", {"action": action, "isbn": PCI, "next": "/books/?page=1"})
        assert (response.code, response.location) == (303, "/books/?page=1")
    response = await client.post("/cart", {"action": "remove", "isbn": PCI, **ON_CART})
    assert (response.code, response.location) == (303, "/cart")
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = await client.post("/cart", {"action": "add", "isbn": PCI, "next": elsewhere})
        assert (response.code, response.location) == (303, f"/books/{PCI}"), elsewhere


@pytest.mark.gen_test
async def test_a_refused_remove_on_the_cart_page_stays_on_the_cart_page(client, services):
    await client.post("/cart", {"action": "add", "isbn": RESTFUL})
    response = await client.post("/cart", {"action": "remove", "isbn": PCI, **ON_CART})
    assert response.code == 409
    text = text_of(response.text)
    assert "This book is not in your cart." in text and "RESTful Web Services" in text and "Subtotal" in text


@pytest.mark.gen_test
async def test_setting_a_quantity_as_a_script_answers_json(client, services):
    response = await client.post_json("/cart", {"action": "set", "isbn": PCI, "quantity": 3})
    assert response.code == 200
    assert response.json()["cart"]["count"] == 3 and response.json()["book"]["available"] == 9
    response = await client.post_json("/cart", {"action": "set", "isbn": PCI, "quantity": 30})
    assert response.code == 400


# -- holds that end ------------------------------------------------------------------------------


async def hold_then_expire(client, services, *isbns):
    """Add a copy of each ISBN, then let the (anonymous, 10-minute) hold expire and the sweep run."""
    for isbn in isbns:
        await client.post("/cart", {"action": "add", "isbn": isbn})
    await age_carts(services, 601)
    await services.housekeeping(1200, 600)


@pytest.mark.gen_test
async def test_the_pages_warn_when_the_hold_is_about_to_end(client, services):
    await client.post("/cart", {"action": "add", "isbn": PCI})
    page = await client.get("/cart")
    assert 'class="hold-ending" role="alert" data-warn-at=' in page.text
    assert re.search(r'class="hold-ending" role="alert" data-warn-at="[^"]+" hidden', page.text)
    assert "hold-ending" not in (await client.get(f"/books/{PCI}")).text

    await age_carts(services, 600 - 60)  # an anonymous hold lasts 10 minutes: one is left
    page = await client.get("/cart")
    assert not re.search(r'data-warn-at="[^"]+" hidden', page.text)
    assert re.search(r"Your hold ends soon, at \d\d:\d\d", text_of(page.text))
    book = text_of((await client.get(f"/books/{PCI}")).text)
    assert re.search(r"We hold your copies only until \d\d:\d\d: check out, or change your cart", book)


@pytest.mark.gen_test
async def test_an_expired_hold_is_explained_and_its_copies_can_be_added_again(client, services):
    await hold_then_expire(client, services, PCI, PCI)
    assert await held(services) == 0

    cart_page = text_of((await client.get("/cart")).text)
    assert re.search(r"Your hold on Programming Collective Intelligence \(2 copies\) expired at \d\d:\d\d; "
                     r"the copies went back on sale\.", cart_page)
    assert "Your cart is empty" in cart_page
    book_page = await client.get(f"/books/{PCI}")
    assert re.search(r"Your hold on 2 copies of Programming Collective Intelligence expired at \d\d:\d\d; "
                     r"the copies went back on sale\.", text_of(book_page.text))
    assert "Add them to your cart again" in book_page.text
    assert 'data-in-cart="0"' in book_page.text and "2 copies are in your cart" not in text_of(book_page.text)

    # Remove, from a page loaded before the hold expired, says what happened and changes nothing.
    before = await store_snapshot(services)
    response = await client.post("/cart", {"action": "remove", "isbn": PCI})
    assert response.code == 409 and LAPSED_MESSAGE in text_of(response.text)
    response = await client.post("/cart", {"action": "remove", "isbn": PCI}, headers=JSON)
    assert response.json()["error"]["message"] == LAPSED_MESSAGE
    assert await store_snapshot(services) == before

    response = await client.post("/cart", {"action": "add_again", "isbn": PCI, **ON_CART})
    assert (response.code, response.location) == (303, "/cart")
    assert await held(services) == 2
    cart_page = text_of((await client.get("/cart")).text)
    assert "expired" not in cart_page and "Subtotal, 2 copies $79.98" in cart_page


@pytest.mark.gen_test
async def test_an_expired_hold_on_a_title_sold_out_since_is_said_so_and_can_be_dismissed(client, services):
    await hold_then_expire(client, services, PCI)
    await services.inventory.set_stock(PCI, 0)
    cart_page = await client.get("/cart")
    assert "sold out since" in text_of(cart_page.text) and 'value="add_again"' not in cart_page.text
    assert "They have all been sold since." in text_of((await client.get(f"/books/{PCI}")).text)
    response = await client.post("/cart", {"action": "add_again", "isbn": PCI, **ON_CART})
    assert response.code == 409 and "sold out" in text_of(response.text)

    response = await client.post("/cart", {"action": "forget", **ON_CART})
    assert (response.code, response.location) == (303, "/cart")
    assert "expired" not in text_of((await client.get("/cart")).text)


@pytest.mark.gen_test
async def test_adding_after_an_expiry_reopens_the_cart_and_keeps_telling_what_expired(client, services):
    await hold_then_expire(client, services, PCI, RESTFUL)

    await client.post("/cart", {"action": "add", "isbn": RESTFUL})
    assert await services.db.carts.count_documents({}) == 1
    text = text_of((await client.get("/cart")).text)
    assert re.search(r"Your hold on Programming Collective Intelligence \(1 copy\) expired", text)
    assert "Subtotal, 1 copy" in text
    assert (await held(services, PCI), await held(services, RESTFUL)) == (0, 1)
    assert await services.inventory.reconcile(services.carts.held_copies) == []
