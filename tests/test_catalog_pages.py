"""What shoppers see: home, recommended reading, catalog search and paging, a book's page, 404s."""

import dataclasses
import datetime
import html
import re

import pytest

from burts_books import catalog as catalog_module
from burts_books.infra.clock import utcnow
from tests.constants import PCI, STAFF_EMAIL, STARTER_BOOKS, UNKNOWN_ISBN, isbn_13
from tests.shop_client import book_articles, listed_titles, text_of

ALL_TITLES = sorted(book["title"] for book in STARTER_BOOKS)


@pytest.fixture
def settings(settings):
    # Five books a page, so the twelve starter books make three pages.
    return dataclasses.replace(settings, page_size=5)


def catalog_titles(page_html):
    return listed_titles(page_html)


def next_link(page_html):
    found = re.search(r'<a rel="next" href="([^"]*)"', page_html)
    return html.unescape(found.group(1)) if found else None


@pytest.mark.gen_test
async def test_home_page_welcomes_and_shows_the_newest_books(client):
    response = await client.get("/")
    assert response.code == 200
    text = text_of(response.text)
    assert "Welcome to Burt's Books!" in text
    arrivals = re.search(r'<section aria-labelledby="new-arrivals">.*?</section>', response.text, re.S).group(0)
    # The starter books were added in list order, so the last four are the newest.
    newest = [book["title"] for book in reversed(STARTER_BOOKS[-4:])]
    assert listed_titles(arrivals) == newest
    assert "contact@burtsbooks.com" in text and "(555) 555-5555" in text


@pytest.mark.gen_test
async def test_recommended_reading_draws_every_book_with_the_book_module(client):
    response = await client.get("/recommended/")
    assert response.code == 200
    assert response.text.count('<article class="book"') == len(STARTER_BOOKS)
    book = book_articles(response.text)[PCI]
    # A local cover's address changes with the file (static_url), so browsers may keep it for good.
    # A drawing is the same at every size, so no srcset offers dense screens the same address again.
    assert re.search(rf'<img class="cover" src="/static/images/{PCI}\.svg\?v=\w+" alt=', book)
    text = text_of(book)
    for shown in (
        "Programming Collective Intelligence",
        "Building Smart Web 2.0 Applications",
        "by Toby Segaran",
        "Released August 2007",
        "$39.99",
    ):
        assert shown in text
    assert "Added" not in text  # the date staff added it is nothing to a shopper
    # The description is the stored (sanitized) HTML, not escaped text.
    assert "<em>Python</em>" in book


@pytest.mark.gen_test
async def test_recommended_reading_is_the_twelve_newest_books(client, services, monkeypatch):
    start = utcnow()
    for number in range(3):
        # Added a second apart by the catalog's clock: books added within one millisecond go in ISBN order.
        added = start + datetime.timedelta(seconds=number + 1)
        monkeypatch.setattr(catalog_module, "utcnow", lambda added=added: added)
        await services.catalog.add({"isbn": isbn_13(number), "title": f"Newer Book {number}", "author": "A. Writer",
                                    "price": "10", "stock": "2"}, STAFF_EMAIL)
    shown = list(book_articles((await client.get("/recommended/")).text))
    newest_starters = [book["isbn"] for book in reversed(STARTER_BOOKS[-9:])]
    assert shown == [isbn_13(2), isbn_13(1), isbn_13(0), *newest_starters]


@pytest.mark.gen_test
async def test_tornado_puts_the_book_module_stylesheet_in_the_head_once(client):
    response = await client.get("/recommended/")
    head = response.text.split("</head>")[0]
    assert len(re.findall(r'<link href="/static/css/book\.css\?v=\w+"[^>]*rel="stylesheet"', head)) == 1
    assert "book.css" not in response.text.split("</head>")[1]


@pytest.mark.parametrize(
    "query, titles",
    [
        ("tornado", ["Introduction to Tornado"]),
        ("segaran", ["Programming Collective Intelligence"]),  # author
        ("web serv", ["RESTful Web Services"]),  # every word, each as a prefix
        ("PYTHON cook", ["Python Cookbook"]),
        ("kleppmann designing", ["Designing Data-Intensive Applications"]),
        # Titles first (in title order), then the books whose description has the word.
        ("prog", ["Programming Collective Intelligence", "Structure and Interpretation of Computer Programs",
                  "The Pragmatic Programmer", "Fluent Python", "Learning Python"]),
    ],
)
@pytest.mark.gen_test
async def test_search_by_title_and_author_word_prefixes(client, query, titles):
    response = await client.get(f"/books/?q={query.replace(' ', '+')}")
    assert response.code == 200
    assert catalog_titles(response.text) == titles
    assert f"Books matching “{query}”" in text_of(response.text)


@pytest.mark.gen_test
async def test_search_without_matches_says_so(client):
    response = await client.get("/books/?q=zzyzx")
    assert response.code == 200
    assert catalog_titles(response.text) == []
    assert "0 books." in text_of(response.text) and "No books match your search." in response.text
    assert 'name="q" value="zzyzx"' in response.text  # the search box keeps what was typed


@pytest.mark.gen_test
async def test_a_search_for_markup_is_shown_as_text(client):
    response = await client.get("/books/?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E")
    assert response.code == 200
    assert "<script>alert(1)" not in response.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text


@pytest.mark.gen_test
async def test_walking_the_pages_shows_every_book_once_in_title_order(client):
    seen, link, pages = [], "", 0
    while link is not None:
        response = await client.get("/books/" + link)
        assert response.code == 200
        pages += 1
        assert f"12 books, page {pages} of 3." in text_of(response.text)
        assert ('rel="prev"' in response.text) == (pages > 1)
        seen += catalog_titles(response.text)
        link = next_link(response.text)
    assert pages == 3
    assert seen == ALL_TITLES


@pytest.mark.gen_test
async def test_next_page_link_keeps_the_search(client):
    response = await client.get("/books/?q=p")
    assert next_link(response.text) == "?q=p&page=2"
    second = await client.get("/books/?q=p&page=2")
    assert second.code == 200 and catalog_titles(second.text)
    assert not set(catalog_titles(second.text)) & set(catalog_titles(response.text))


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "%C2%B2", "10001"])
@pytest.mark.gen_test
async def test_a_bad_page_number_is_a_clear_400(client, page):
    response = await client.get(f"/books/?page={page}")
    assert response.code == 400
    assert "The page must be a whole number from 1 to 10,000." in text_of(response.text)


@pytest.mark.gen_test
async def test_an_overlong_search_is_a_clear_400(client):
    response = await client.get("/books/?q=" + "a" * 201)
    assert response.code == 400
    assert "Search for at most 200 characters." in text_of(response.text)


@pytest.mark.gen_test
async def test_book_page_shows_the_book(client):
    response = await client.get(f"/books/{PCI}")
    assert response.code == 200
    assert "<title>Programming Collective Intelligence · Burt's Books</title>" in response.text
    assert "by Toby Segaran" in text_of(book_articles(response.text)[PCI])


@pytest.mark.parametrize("typed", ["0596529325", "0-596-52932-5", "978-0-596-52932-1"])
@pytest.mark.gen_test
async def test_other_forms_of_an_isbn_redirect_permanently_to_the_isbn13_page(client, typed):
    response = await client.get(f"/books/{typed}")
    assert response.code == 301
    assert response.location == f"/books/{PCI}"


@pytest.mark.parametrize(
    "path, message",
    [
        (f"/books/{UNKNOWN_ISBN}", f"There is no book with ISBN {UNKNOWN_ISBN} in our catalog."),
        ("/books/9780596529322", "There is no book with ISBN 9780596529322 in our catalog."),  # bad check digit
        ("/books/not-an-isbn", "There is no page at this address."),
        ("/no/such/page", "There is no page at this address."),
    ],
)
@pytest.mark.gen_test
async def test_unknown_addresses_get_a_real_404_page(client, path, message):
    response = await client.get(path)
    assert response.code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    text = text_of(response.text)
    assert message in text
    assert "Back to the shop" in text and "contact@burtsbooks.com" in text  # the site's own layout


@pytest.mark.parametrize("path", ["/", "/books/?page=0", "/no/such/page", "/api/books", "/login", "/healthz"])
@pytest.mark.gen_test
async def test_security_headers_on_every_answer(client, path):
    headers = (await client.get(path)).headers
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    # Pages run scripts from the shop only; JSON runs nothing at all.
    assert ("default-src 'none'" if path.startswith(("/api/", "/healthz")) else "script-src 'self'") in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store" and "Etag" not in headers  # kept by no one, revalidated by no one
