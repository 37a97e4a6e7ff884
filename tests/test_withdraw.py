"""Staff withdraw a title from sale and restore it: gone from listings, search, the API and carts, its page
kept for past orders."""

import pytest

from tests.constants import JSON, PASSWORD, PCI, STARTER_BOOKS
from tests.shop_client import book_articles, cart_count, form_values, text_of
from tests.store import stock_of, store_snapshot

TITLE = "Programming Collective Intelligence"


async def withdraw(client, withdraw=True, **kwargs):
    return await client.post(f"/staff/books/{PCI}/withdraw", {"withdraw": "1" if withdraw else "0"}, **kwargs)


async def everywhere_shoppers_look(client):
    """Whether the title shows on each shopper listing, search and API."""
    api_list = (await client.get_json("/api/books?size=100"))["books"]
    return {
        "recommended": PCI in book_articles((await client.get("/recommended/")).text),
        "catalog": TITLE in (await client.get("/books/")).text,
        "search": TITLE in (await client.get("/books/?q=collective")).text,
        "api list": PCI in [book["isbn"] for book in api_list],
        "api search": bool((await client.get_json("/api/books?q=collective"))["books"]),
        "api book": (await client.get(f"/api/books/{PCI}")).code == 200,
    }


@pytest.mark.gen_test
async def test_a_withdrawn_title_disappears_and_a_restored_one_comes_back(staff, services):
    shopper = staff.another()
    assert set((await everywhere_shoppers_look(shopper)).values()) == {True}, await everywhere_shoppers_look(shopper)

    edit_page = (await staff.get(f"/edit/{PCI}")).text
    assert form_values(edit_page, f"/staff/books/{PCI}/withdraw") == {"withdraw": "1"}
    response = await withdraw(staff)
    assert (response.code, response.location) == (303, f"/edit/{PCI}")
    page = text_of((await staff.get(response.location)).text)
    assert f"“{TITLE}” is withdrawn from sale" in page and "Restore to sale" in page

    assert set((await everywhere_shoppers_look(shopper)).values()) == {False}
    assert (await shopper.get_json(f"/api/books/{PCI}", status=404))["error"]["message"] == (
        f"The book with ISBN {PCI} is no longer available.")
    assert (await shopper.get_json("/api/books?size=100"))["total"] == len(STARTER_BOOKS) - 1
    # Its page stays, for the orders that have it, and says so.
    book_page = await shopper.get(f"/books/{PCI}")
    assert book_page.code == 200
    assert "This book is no longer available." in text_of(book_page.text)
    assert "Add to Cart" not in book_page.text

    response = await withdraw(staff, withdraw=False)
    assert f"“{TITLE}” is back on sale." in text_of((await staff.get(response.location)).text)
    assert set((await everywhere_shoppers_look(shopper)).values()) == {True}


@pytest.mark.gen_test
async def test_a_withdrawn_title_cannot_be_put_in_a_cart(staff, services):
    await withdraw(staff)
    shopper = staff.another()
    before = await store_snapshot(services)

    response = await shopper.post("/cart", {"action": "add", "isbn": PCI}, headers=JSON)
    assert response.code == 409
    assert response.json()["error"]["message"] == "Sorry, this book is no longer available."
    page = await shopper.post("/cart", {"action": "add", "isbn": PCI})
    assert page.code == 409 and "Sorry, this book is no longer available." in text_of(page.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_copies_already_in_a_cart_stay_there_and_can_be_given_back(staff, services):
    shopper = staff.another()
    await shopper.post("/cart", {"action": "add", "isbn": PCI}, headers=JSON)
    await withdraw(staff)

    refused = await shopper.post("/cart", {"action": "add", "isbn": PCI}, headers=JSON)
    assert refused.code == 409 and refused.json()["cart"]["count"] == 1
    assert (await shopper.post("/cart", {"action": "remove", "isbn": PCI}, headers=JSON)).code == 200
    assert cart_count((await shopper.get("/cart")).text) == 0
    assert (await stock_of(services))["available"] == 12


@pytest.mark.gen_test
async def test_only_staff_withdraw_and_only_with_the_xsrf_token(staff, services):
    shopper = staff.another()
    await services.accounts.register("someone@example.com", PASSWORD)
    await shopper.login("someone@example.com")
    before = await store_snapshot(services)
    assert (await withdraw(staff, xsrf=False)).code == 403

    assert (await withdraw(shopper)).code == 403
    anonymous = staff.another()
    response = await withdraw(anonymous)
    assert (response.code, response.location) == (303, "/login?next=%2F")
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_withdrawing_an_unknown_title_is_404(staff):
    assert (await staff.post("/staff/books/9781234567897/withdraw", {"withdraw": "1"})).code == 404
