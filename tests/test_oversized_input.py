"""Numbers with thousands of digits, and % signs, get a clear 400 and change nothing."""

import pytest

from tests.constants import JSON, PCI, UNKNOWN_ISBN

HUGE = "1" * 5000  # int() refuses strings of more than 4300 digits


@pytest.mark.gen_test
async def test_a_huge_page_number_is_a_bad_request(client):
    assert (await client.get(f"/books/?page={HUGE}")).code == 400
    response = await client.get(f"/api/books?page={HUGE}")
    assert response.code == 400 and "page" in response.json()["error"]["message"]


@pytest.mark.gen_test
async def test_a_huge_api_page_size_is_a_bad_request(client):
    response = await client.get(f"/api/books?size={HUGE}")
    assert response.code == 400 and "size" in response.json()["error"]["message"]


@pytest.mark.gen_test
async def test_a_huge_restock_is_a_bad_request(staff, services):
    response = await staff.post(f"/edit/{PCI}/restock", {"copies": HUGE})
    assert response.code == 400
    response = await staff.post_json(f"/api/books/{PCI}/restock", {"copies": HUGE})
    assert response.code == 400 and "copies" in response.json()["error"]["message"]
    assert (await services.db.books.find_one({"isbn": PCI}))["stock"] == 12


@pytest.mark.gen_test
async def test_a_huge_stock_on_the_book_form_is_a_field_error(staff, services):
    response = await staff.post("/add", {
        "isbn": "978-1-234-56789-7", "title": "T", "author": "A", "price": "1", "stock": HUGE,
    })
    assert response.code == 400
    assert "Give a whole number of copies" in response.text
    assert await services.db.books.find_one({"isbn": UNKNOWN_ISBN}) is None


@pytest.mark.gen_test
async def test_a_percent_sign_in_bad_input_is_shown_as_typed(client):
    response = await client.get(f"/cart/status?isbn={PCI}&version=%25d")
    assert response.code == 400
    assert response.json()["error"]["message"] == "version must be a whole number, got '%d'."
    response = await client.post("/cart", {"action": "add", "isbn": "%s%%"}, headers=JSON)
    assert response.code == 400
    assert "('%s%%')" in response.json()["error"]["message"]
