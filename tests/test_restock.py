"""Staff restock a book: the edit page's form and the JSON call; open pages see the new count."""

import pytest

from tests.constants import PCI, UNKNOWN_ISBN
from tests.shop_client import available_shown, text_of
from tests.store import stock_of, store_snapshot
from tests.waiting import recorder, until


async def restock_json(client, copies, isbn=PCI):
    """What a program does: POST {"copies": N} to the book's restock call."""
    return await client.post_json(f"/api/books/{isbn}/restock", {"copies": copies})


@pytest.mark.gen_test
async def test_staff_restock_from_the_edit_page(staff, services):
    events = recorder(services.bus)
    edit_page = await staff.get(f"/edit/{PCI}")
    assert f'action="/edit/{PCI}/restock"' in edit_page.text

    response = await staff.post(f"/edit/{PCI}/restock", {"copies": "5"})
    assert response.code == 303 and response.location == f"/edit/{PCI}"
    book = await stock_of(services)
    assert (book["stock"], book["available"], book["inventory_version"]) == (17, 17, 2)
    await until(lambda: events)
    assert events == [{"isbn": PCI, "available": 17, "version": 2}]
    assert available_shown((await staff.get(f"/books/{PCI}")).text) == 17


@pytest.mark.gen_test
async def test_staff_restock_through_the_api(staff, services):
    response = await restock_json(staff, 3)
    assert response.code == 200
    assert response.json() == {"book": {"isbn": PCI, "available": 15, "version": 2}}


@pytest.mark.parametrize("copies", ["0", "-2", "lots", "", "1.5", "100001"])
@pytest.mark.gen_test
async def test_a_bad_number_of_copies_is_refused(staff, services, copies):
    before = await store_snapshot(services)
    page = await staff.post(f"/edit/{PCI}/restock", {"copies": copies})
    assert page.code == 400
    assert "a whole number from 1 to 100000" in text_of(page.text)
    for value in (copies, True, None, [3]):
        response = await restock_json(staff, value)
        assert response.code == 400, value
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_restocking_past_the_most_a_book_can_have_is_refused(staff, services):
    before = await store_snapshot(services)
    response = await restock_json(staff, 100000 - 11)  # 12 on hand
    assert response.code == 400
    assert response.json()["error"]["message"] == "A book can have at most 100000 copies in stock."
    assert await store_snapshot(services) == before
    assert (await restock_json(staff, 100000 - 12)).code == 200


@pytest.mark.gen_test
async def test_shoppers_and_visitors_cannot_restock(shopper, services):
    before = await store_snapshot(services)
    assert (await shopper.post(f"/edit/{PCI}/restock", {"copies": "5"})).code == 403
    response = await restock_json(shopper, 5)
    assert response.code == 403 and "staff" in response.json()["error"]["message"]

    anonymous = shopper.another()
    # Like every staff form, an anonymous browser is sent to sign in; a program gets 401.
    response = await anonymous.post(f"/edit/{PCI}/restock", {"copies": "5"})
    assert (response.code, response.location) == (303, "/login?next=%2F")
    assert (await restock_json(anonymous, 5)).code == 401
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_restocking_an_unknown_book_is_404(staff, services):
    assert (await restock_json(staff, 5, isbn=UNKNOWN_ISBN)).code == 404
