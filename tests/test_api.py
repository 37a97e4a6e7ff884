"""The JSON API: the catalog for programs, paged and searchable; errors are JSON too."""

import pytest

from tests.constants import PCI, RESTFUL, STARTER_BOOKS, UNKNOWN_ISBN

ALL_TITLES = sorted(book["title"] for book in STARTER_BOOKS)


@pytest.mark.gen_test
async def test_books_lists_the_catalog_in_title_order(client):
    body = await client.get_json("/api/books")
    assert [book["title"] for book in body["books"]] == ALL_TITLES
    assert {k: body[k] for k in ("query", "page", "pages", "size", "total")} == {
        "query": "", "page": 1, "pages": 1, "size": 12, "total": 12,
    }


@pytest.mark.gen_test
async def test_pages_of_the_api_together_hold_every_book_once(client):
    pages = [await client.get_json(f"/api/books?size=5&page={n}") for n in (1, 2, 3)]
    assert [len(page["books"]) for page in pages] == [5, 5, 2]
    assert all(page["pages"] == 3 and page["total"] == 12 for page in pages)
    assert [book["title"] for page in pages for book in page["books"]] == ALL_TITLES
    assert (await client.get_json("/api/books?size=5&page=4"))["books"] == []


@pytest.mark.gen_test
async def test_books_can_be_searched(client):
    body = await client.get_json("/api/books?q=Web+Serv")
    assert [book["isbn"] for book in body["books"]] == [RESTFUL]
    assert (body["query"], body["total"]) == ("web serv", 1)


@pytest.mark.parametrize("typed", [PCI, "0596529325", "978-0-596-52932-1"])
@pytest.mark.gen_test
async def test_one_book_by_any_form_of_its_isbn(client, typed):
    book = await client.get_json(f"/api/books/{typed}")
    assert book == {
        "isbn": PCI,
        "title": "Programming Collective Intelligence",
        "subtitle": "Building Smart Web 2.0 Applications",
        "author": "Toby Segaran",
        "image": f"/static/images/{PCI}.svg",
        "date_released": "August 2007",
        "date_added": "2026-11-01T00:00:00Z",
        "description": STARTER_BOOKS[0]["description"],
        "price_cents": 3999,
        "available": 12,
        "version": 1,
    }


@pytest.mark.parametrize(
    "path, status, message",
    [
        (f"/api/books/{UNKNOWN_ISBN}", 404, f"There is no book with ISBN {UNKNOWN_ISBN} in our catalog."),
        ("/api/books/9780596529322", 404, "There is no book with ISBN 9780596529322 in our catalog."),
        ("/api/no-such-thing", 404, "There is no page at this address."),
        ("/api/books?page=0", 400, "The page must be a whole number from 1 to 10,000."),
        ("/api/books?page=two", 400, "The page must be a whole number from 1 to 10,000."),
        ("/api/books?page=10001", 400, "The page must be a whole number from 1 to 10,000."),
        ("/api/books?size=0", 400, "size must be a whole number from 1 to 100."),
        ("/api/books?size=101", 400, "size must be a whole number from 1 to 100."),
        ("/api/books?size=%C2%B2", 400, "size must be a whole number from 1 to 100."),
        ("/api/books?q=" + "a" * 201, 400, "Search for at most 200 characters."),
    ],
)
@pytest.mark.gen_test
async def test_errors_come_back_as_json_with_status_and_message(client, path, status, message):
    assert await client.get_json(path, status) == {"error": {"status": status, "message": message}}


@pytest.mark.gen_test
async def test_a_method_the_api_does_not_answer_is_told_apart_from_a_missing_form_token(client):
    """A program that POSTs to a read-only address learns that the method is wrong (405 and what is
    allowed), not that it forgot an XSRF token it has no use for; a POST to no address at all is a 404."""
    wrong = await client.post_json(f"/api/books/{PCI}", {"title": "x"}, xsrf=False)
    assert wrong.code == 405
    assert wrong.headers["Allow"] == "GET"
    assert "error" in wrong.json()
    missing = await client.post_json("/api/no-such-thing", {}, xsrf=False)
    assert missing.code == 404
    refused = await client.post_json("/cart", {"isbn": PCI, "action": "add"}, xsrf=False)
    assert refused.code == 403, "a form's address still asks for its token"
    assert (await client.get_json(f"/api/books/{PCI}"))["title"] != "x"
