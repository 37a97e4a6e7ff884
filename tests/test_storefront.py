"""What shoppers find: listings they can shop from, true stock wording, a search that forgives,
book pages search engines read, and pages that answer HEAD and come compressed."""

import gzip
import json
import re

import pytest

from tests.constants import PASSWORD, PCI, RESTFUL, STAFF_EMAIL, STARTER_BOOKS
from tests.shop_client import cart_count, forms, listed_titles, offers, text_of

SICP = "9780262510875"  # 4 copies in the starter catalog
LISTINGS = ["/", "/books/", "/books/?q=python", "/recommended/"]
PAGES = [*LISTINGS, f"/books/{PCI}", "/login", "/register", "/cart", "/books/?q=zzyzx"]


async def add_book(services, isbn, title, description="", stock="3", price="20.00", author="Ann Author"):
    await services.catalog.add({"isbn": isbn, "title": title, "author": author, "price": price, "stock": stock,
                                "description": description}, STAFF_EMAIL)


def json_ld(page_html):
    found = re.findall(r'<script type="application/ld\+json" nonce="([^"]+)">(.*?)</script>', page_html, re.S)
    assert len(found) == 1
    nonce, data = found[0]
    return nonce, json.loads(data)


# -- listings ---------------------------------------------------------------


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.gen_test
async def test_every_listed_book_shows_price_stock_and_add_to_cart(client, settings, path):
    page = (await client.get(path)).text
    shown = offers(page)
    assert shown, "no book offered"
    for isbn, offer in shown.items():
        book = next(book for book in STARTER_BOOKS if book["isbn"] == isbn)
        low = book["stock"] < settings.low_stock_threshold
        assert text_of(offer).startswith(f"Only {book['stock']} left" if low else "In stock")
        assert "Add to Cart" in text_of(offer)
        assert f'href="/books/{isbn}"' in page  # the cover and title lead to the book
        assert "$" + f"{book['price_cents'] / 100:.2f}" in text_of(page)
    # Each Add to Cart is a form that works without JavaScript: this browser's XSRF token, the ISBN.
    cart_forms = [form for form in forms(page) if form.action == "/cart"]
    assert {form.values["isbn"] for form in cart_forms} >= set(shown)
    added = await client.post("/cart", {**cart_forms[0].values, "action": "add"})
    assert added.code == 303
    assert cart_count((await client.get(path)).text) == 1


@pytest.mark.gen_test
async def test_listing_stock_is_as_of_each_request_though_the_page_is_shared(client, services):
    await client.get("/books/")  # rendered and kept
    await services.inventory.set_stock(SICP, 0)
    offer = offers((await client.get("/books/")).text)[SICP]
    assert "Sold out" in text_of(offer) and re.search(r'<button class="button add-to-cart"[^>]* disabled', offer)
    await services.inventory.set_stock(SICP, 3)
    assert "Only 3 left" in text_of(offers((await client.get("/books/")).text)[SICP])


@pytest.mark.gen_test
async def test_another_visitor_never_sees_someone_elses_token_or_cart_on_a_listing(client):
    alice, bob = client.another(), client.another()
    await alice.cart_json("add", PCI)
    await alice.cart_json("add", RESTFUL)
    for path in LISTINGS:
        alices, bobs = (await alice.get(path)).text, (await bob.get(path)).text
        alice_tokens = set(re.findall(r'name="_xsrf" value="([^"]+)"', alices))
        bob_tokens = set(re.findall(r'name="_xsrf" value="([^"]+)"', bobs))
        assert alice_tokens and bob_tokens and not alice_tokens & bob_tokens
        assert cart_count(alices) == 2 and "$79.98" in text_of(alices.split("</header>")[0])
        assert cart_count(bobs) == 0 and "$0.00" in text_of(bobs.split("</header>")[0])


# -- stock wording ----------------------------------------------------------


# Low on stock is fewer than --low-stock-threshold, 5 unless set.
@pytest.mark.parametrize("stock, wording", [(12, "In stock"), (5, "In stock"), (4, "Only 4 left"),
                                            (1, "Only 1 left"), (0, "Sold out")])
@pytest.mark.gen_test
async def test_a_book_page_says_how_many_are_left_only_when_few(client, services, stock, wording):
    await services.inventory.set_stock(PCI, stock)
    page = (await client.get(f"/books/{PCI}")).text
    stock_line = re.search(r'<span class="count"[^>]*>(.*?)</span>', page).group(1)
    assert stock_line == wording
    assert "left in stock!" not in page
    assert bool(re.search(r'<button class="button primary add-to-cart"[^>]* disabled', page)) == (stock == 0)


# -- book pages -------------------------------------------------------------


@pytest.mark.gen_test
async def test_a_book_page_has_one_h1_the_facts_a_shopper_needs_and_no_internal_date(client):
    page = (await client.get(f"/books/{PCI}")).text
    assert re.findall(r"<h1[^>]*>(.*?)</h1>", page) == ["Programming Collective Intelligence"]
    text = text_of(page)
    assert "by Toby Segaran" in text and "$39.99" in text and "In stock" in text
    assert "Added" not in text and "2026" not in text


@pytest.mark.gen_test
async def test_a_book_page_describes_the_book_to_search_engines(client, services):
    response = await client.get(f"/books/{PCI}")
    nonce, data = json_ld(response.text)
    assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]  # the browser lets it be
    assert data["@type"] == "Book" and data["name"] == "Programming Collective Intelligence"
    assert data["isbn"] == PCI and data["author"]["name"] == "Toby Segaran"
    assert data["offers"] == {"@type": "Offer", "price": "39.99", "priceCurrency": "USD",
                              "availability": "https://schema.org/InStock", "url": data["url"]}
    assert data["url"].endswith(f"/books/{PCI}") and "<em>" not in data["description"]
    description = re.search(r'<meta name="description" content="([^"]+)">', response.text).group(1)
    assert description.startswith("Programming Collective Intelligence by Toby Segaran, $39.99")

    await services.inventory.set_stock(PCI, 0)
    again = await client.get(f"/books/{PCI}")
    assert json_ld(again.text)[1]["offers"]["availability"] == "https://schema.org/OutOfStock"
    assert json_ld(again.text)[0] != nonce  # a nonce is never reused, though the page is kept


@pytest.mark.gen_test
async def test_text_in_book_data_cannot_end_its_script(client, services):
    await add_book(services, "9780000000002", "</script><script>alert(1)</script>")
    page = (await client.get("/books/9780000000002")).text
    assert "<script>alert(1)" not in page
    assert json_ld(page)[1]["name"] == "</script><script>alert(1)</script>"


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.gen_test
async def test_every_page_has_one_h1_and_a_skip_link_to_it(client, path):
    page = (await client.get(path)).text
    assert len(re.findall(r"<h1\b", page)) == 1
    assert '<a class="skip-link" href="#main">Skip to main content</a>' in page
    main = page.index('<main id="main"')
    assert main < page.index("<h1")


# -- HEAD and compression ---------------------------------------------------


async def head_matches_get(client, path, status=200):
    got = await client.get(path)
    head = await client.fetch(path, method="HEAD")
    assert (got.code, head.code) == (status, status) and head.text == ""
    assert head.headers["Content-Type"] == got.headers["Content-Type"]


@pytest.mark.parametrize("path", [*LISTINGS, f"/books/{PCI}", "/login", "/register"])
@pytest.mark.gen_test
async def test_head_answers_like_get_without_a_body(client, path):
    await head_matches_get(client, path)


@pytest.mark.gen_test
async def test_head_answers_on_the_signed_in_pages_too(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    for path in ("/cart", "/checkout"):
        await head_matches_get(shopper, path)
    placed = await shopper.check_out(name="Ada Reader")
    assert placed.code == 303, placed.text
    for path in (placed.location, "/orders", "/account", "/logout", "/password/forgot"):
        await head_matches_get(shopper, path)
    await head_matches_get(shopper, "/orders/BB-99999", status=404)
    await head_matches_get(shopper, "/password/reset/" + "A" * 43, status=400)  # a made-up link: expired
    await services.accounts.register(STAFF_EMAIL, PASSWORD, staff=True)
    staff = shopper.another()
    await staff.login(STAFF_EMAIL)
    await head_matches_get(staff, "/account/tokens")


@pytest.mark.gen_test
async def test_head_of_a_signed_in_page_asks_a_stranger_to_sign_in(client):
    for path in ("/checkout", "/orders", "/account"):
        head = await client.fetch(path, method="HEAD")
        assert head.code == 302 and head.location.startswith("/login?next=")


@pytest.mark.gen_test
async def test_head_of_a_missing_book_is_a_404(client):
    assert (await client.fetch("/books/9781234567897", method="HEAD")).code == 404


@pytest.mark.gen_test
async def test_pages_come_gzipped_to_browsers_that_ask(http_client, base_url):
    response = await http_client.fetch(base_url + "/recommended/", headers={"Accept-Encoding": "gzip"},
                                       decompress_response=False)
    assert response.headers["Content-Encoding"] == "gzip"
    page = gzip.decompress(response.body).decode()
    assert "Recommended Reading" in page and len(response.body) * 3 < len(page)
    plain = await http_client.fetch(base_url + "/recommended/", decompress_response=False)
    assert "Content-Encoding" not in plain.headers


# -- search -----------------------------------------------------------------


@pytest.mark.parametrize("typed", [PCI, "978-0-596-52932-1", "978 0 596 52932 1", "0596529325", "0-596-52932-5"])
@pytest.mark.gen_test
async def test_an_isbn_in_any_form_finds_its_book(client, typed):
    page = (await client.get(f"/books/?q={typed.replace(' ', '+')}")).text
    assert listed_titles(page) == ["Programming Collective Intelligence"]


@pytest.mark.gen_test
async def test_words_with_symbols_are_searched_as_words(client, services):
    await add_book(services, "9780000000002", "C++ Primer")
    await add_book(services, "9780000000019", "C# in Depth")
    await add_book(services, "9780000000026", "Cooking for C Programmers")
    assert listed_titles((await client.get("/books/?q=c%2B%2B")).text) == ["C++ Primer"]
    assert listed_titles((await client.get("/books/?q=C%23")).text) == ["C# in Depth"]
    assert "C++ Primer" not in listed_titles((await client.get("/books/?q=c%23")).text)


@pytest.mark.gen_test
async def test_a_misspelt_word_is_corrected_and_said_so(client):
    page = (await client.get("/books/?q=pyhton")).text
    assert 'Did you mean <a href="?q=python">python</a>?' in page
    assert {"Fluent Python", "Learning Python", "Python Cookbook"} <= set(listed_titles(page))
    nothing = (await client.get("/books/?q=zzyzx")).text
    assert "Did you mean" not in nothing and listed_titles(nothing) == []
    assert "No books match your search." in text_of(nothing)


@pytest.mark.gen_test
async def test_descriptions_are_searched_after_titles(client, services):
    await add_book(services, "9780000000002", "Gardens", description="<p>A quiet book about <em>zucchini</em>.</p>")
    assert listed_titles((await client.get("/books/?q=zucchini")).text) == ["Gardens"]
    assert listed_titles((await client.get("/books/?q=em")).text) == []  # tags are not words


@pytest.mark.parametrize("sort, key", [
    ("title", lambda book: book["title"]),
    ("price", lambda book: (book["price_cents"], book["title"])),
    ("newest", lambda book: -STARTER_BOOKS.index(book)),  # the starter books were added in list order
])
@pytest.mark.gen_test
async def test_the_catalog_sorts_as_asked(client, sort, key):
    page = (await client.get(f"/books/?sort={sort}")).text
    assert listed_titles(page) == [book["title"] for book in sorted(STARTER_BOOKS, key=key)]
    assert f'<option value="{sort}" selected>' in page


@pytest.mark.gen_test
async def test_search_results_come_most_relevant_first(client):
    page = (await client.get("/books/?q=python")).text
    titles = listed_titles(page)
    # Python in the title first (in title order), then in the description only.
    assert titles[:3] == ["Fluent Python", "Learning Python", "Python Cookbook"]
    assert "Programming Collective Intelligence" in titles[3:]
    assert '<option value="relevance" selected>' in page
    by_price = listed_titles((await client.get("/books/?q=python&sort=price")).text)
    assert sorted(by_price) == sorted(titles) and by_price != titles


@pytest.mark.gen_test
async def test_an_unknown_sort_is_a_clear_400(client):
    response = await client.get("/books/?sort=cheapest")
    assert response.code == 400
    assert "Sort by relevance, newest, price, title." in text_of(response.text)


@pytest.mark.settings(page_size=2)
@pytest.mark.gen_test
async def test_pages_are_numbered_and_a_page_past_the_end_is_a_404(client):
    first = (await client.get("/books/")).text
    numbers = re.findall(r'<a (?:aria-current="page" )?href="\?page=(\d+)">', first)
    assert numbers == ["1", "2", "3", "6"]  # the first, those near, a gap, the last
    assert '<li class="gap" aria-hidden="true">…</li>' in first
    assert '<a aria-current="page" href="?page=1">' in first
    sorted_page = (await client.get("/books/?q=python&sort=price&page=2")).text
    assert '<a rel="prev" href="?q=python&amp;sort=price&amp;page=1">' in sorted_page
    last = await client.get("/books/?page=6")
    assert last.code == 200 and "page 6 of 6" in text_of(last.text)
    past = await client.get("/books/?page=7")
    assert past.code == 404 and "There is no page 7: this list has 6." in text_of(past.text)
    empty = await client.get("/books/?q=zzyzx")
    assert empty.code == 200 and "0 books." in text_of(empty.text)


@pytest.mark.gen_test
async def test_headings_go_down_one_level_at_a_time(client):
    recommended = (await client.get("/recommended/")).text
    assert re.findall(r"<h(\d)", recommended) == ["1"] + ["2"] * len(STARTER_BOOKS)
    home = (await client.get("/")).text
    assert re.findall(r"<h(\d)", home) == ["1", "2", "3", "3", "3", "3"]
