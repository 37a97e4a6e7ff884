"""Staff add and edit books; everyone else is kept out; bad input is shown back and saves nothing."""

import asyncio
import re

import pytest

from burts_books.catalog import EditConflict, book_form
from tests.constants import PASSWORD, PCI, RESTFUL, STAFF_EMAIL, STARTER_BOOKS, UNKNOWN_ISBN
from tests.shop_client import book_articles, field_errors, form_values, text_of
from tests.store import store_snapshot

NEW_BOOK = {
    "isbn": "978-1-234-56789-7",
    "title": "Tornado Internals",
    "subtitle": "Event Loops in Depth",
    "image": "https://covers.example/tornado-internals.png",
    "author": "Ada Writer",
    "date_released": "June 2026",
    "description": "<p>A <strong>deep</strong> dive.</p>",
    "price": "24.50",
    "stock": "7",
}
NEW_ISBN = UNKNOWN_ISBN  # NEW_BOOK's, typed with hyphens above
SEED = STARTER_BOOKS[0]
PCI_FORM = {
    **{name: SEED[name] for name in ("isbn", "title", "subtitle", "image", "author", "date_released", "description")},
    "price": "39.99",
    "stock": str(SEED["stock"]),
}


async def stored(services, isbn):
    return await services.db.books.find_one({"isbn": isbn}, {"_id": 0})


# -- adding and editing ----------------------------------------------------------


@pytest.mark.gen_test
async def test_a_new_book_shows_at_once_on_recommended_reading(staff, services):
    response = await staff.post("/add", NEW_BOOK)
    assert (response.code, response.location) == (303, f"/edit/{NEW_ISBN}")
    assert "Added “Tornado Internals” with 7 copies in stock." in text_of((await staff.get(response.location)).text)

    page = (await staff.get("/recommended/")).text
    isbn, first = next(iter(book_articles(page).items()))
    assert isbn == NEW_ISBN  # newest first
    text = text_of(first)
    for shown in ("Tornado Internals", "Event Loops in Depth", "by Ada Writer", "Released June 2026", "$24.50"):
        assert shown in text
    assert 'src="https://covers.example/tornado-internals.png"' in first
    assert "<p>A <strong>deep</strong> dive.</p>" in first

    found = await staff.get("/books/?q=internals")
    assert "Tornado Internals" in found.text
    book = await stored(services, NEW_ISBN)
    assert (book["stock"], book["available"], book["updated_by"]) == (7, 7, STAFF_EMAIL)


@pytest.mark.gen_test
async def test_a_book_without_a_cover_gets_the_placeholder(staff):
    await staff.post("/add", {**NEW_BOOK, "image": ""})
    page = (await staff.get(f"/books/{NEW_ISBN}")).text
    assert re.search(r'src="/static/images/no-cover\.svg\?v=\w+"', page)


@pytest.mark.gen_test
async def test_edit_form_shows_the_stored_book(staff):
    response = await staff.get(f"/edit/{PCI}")
    assert response.code == 200
    shown = form_values(response.text)
    for name, value in PCI_FORM.items():
        assert shown[name] == value.strip()
    assert re.search(r'<input id="f-isbn"[^>]* readonly', response.text)


@pytest.mark.gen_test
async def test_staff_edit_changes_what_shoppers_see(staff, services):
    changed = {**PCI_FORM, "title": "Programming Collective Intelligence, 2nd ed.", "price": "44", "stock": "20"}
    response = await staff.post(f"/edit/{PCI}", changed)
    assert (response.code, response.location) == (303, f"/edit/{PCI}")
    confirmed = text_of((await staff.get(response.location)).text)
    assert "Saved your changes to “Programming Collective Intelligence, 2nd ed.”." in confirmed

    book_page = text_of((await staff.get(f"/books/{PCI}")).text)
    assert "Programming Collective Intelligence, 2nd ed." in book_page and "$44.00" in book_page
    book = await stored(services, PCI)
    assert (book["stock"], book["available"], book["inventory_version"]) == (20, 20, 2)
    assert "2nd" in book["keywords"]


@pytest.fixture(params=["client", "shopper", "staff"])
def visitor(request):
    """(kind, signed-in client) for an anonymous visitor, a shopper and staff."""
    return request.param, request.getfixturevalue(request.param)


@pytest.mark.gen_test
async def test_edit_links_show_for_staff_only(visitor):
    kind, browser = visitor
    page = (await browser.get("/recommended/")).text
    assert (f'href="/edit/{PCI}"' in page) == (kind == "staff")
    assert ('href="/add"' in page) == (kind == "staff")


# -- who may edit ----------------------------------------------------------------

STAFF_PAGES = [("/add", NEW_BOOK), (f"/edit/{PCI}", {**PCI_FORM, "title": "Hacked"})]


@pytest.mark.parametrize("path", [path for path, _ in STAFF_PAGES])
@pytest.mark.gen_test
async def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = await client.get(path)
    assert response.code == 302
    assert response.location == "/login?next=" + path.replace("/", "%2F")


@pytest.mark.parametrize("path, form", STAFF_PAGES)
@pytest.mark.gen_test
async def test_anonymous_posts_are_sent_to_sign_in_and_change_nothing(client, services, path, form):
    before = await store_snapshot(services)
    response = await client.post(path, form)
    assert (response.code, response.location) == (303, "/login?next=%2F")
    assert await store_snapshot(services) == before


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path, form", STAFF_PAGES)
@pytest.mark.gen_test
async def test_shoppers_are_refused_and_change_nothing(shopper, services, path, form, method):
    before = await store_snapshot(services)
    response = await (shopper.post(path, form) if method == "POST" else shopper.get(path))
    assert response.code == 403
    assert "This page is for Burt's Books staff only." in text_of(response.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_staff_whose_role_is_removed_lose_the_staff_pages_at_once(staff, services):
    assert (await staff.get("/add")).code == 200
    await services.accounts.set_staff(STAFF_EMAIL, False)  # `create-user --no-staff`
    before = await store_snapshot(services)

    assert (await staff.get("/add")).code == 403
    assert (await staff.post("/add", NEW_BOOK)).code == 403
    assert 'href="/add"' not in (await staff.get("/recommended/")).text
    assert await store_snapshot(services) == before


# -- bad input -------------------------------------------------------------------

ADD, EDIT = ("/add", NEW_BOOK), (f"/edit/{PCI}", PCI_FORM)
REQUIRED = "This field is required."
BAD_PRICE = "Give a price between 0 and 10000, like 39.99."
BAD_STOCK = "Give a whole number of copies from 0 to 100000."
BAD_IMAGE = "Give an https:// address or a /static/ path."
# Pages put a local image through static_url, which answers 403 for a path outside its folder.
BAD_STEPS = "Give a path without empty, . or .. steps."


@pytest.mark.parametrize(
    "page, changes, field, message",
    [
        (ADD, {"title": ""}, "title", REQUIRED),
        (ADD, {"author": "   "}, "author", REQUIRED),
        (ADD, {"isbn": ""}, "isbn", REQUIRED),
        (ADD, {"price": ""}, "price", REQUIRED),
        (ADD, {"stock": ""}, "stock", REQUIRED),
        (ADD, {"title": "t" * 201}, "title", "At most 200 characters."),
        (ADD, {"subtitle": "s" * 201}, "subtitle", "At most 200 characters."),
        (ADD, {"description": "d" * 5001}, "description", "At most 5000 characters."),
        (ADD, {"isbn": "978-1-234-56789-8"}, "isbn", "Not a valid ISBN: the ISBN's check digit is wrong."),
        (ADD, {"isbn": "12345"}, "isbn", "Not a valid ISBN: an ISBN has 10 or 13 digits (hyphens and spaces allowed)."),
        (ADD, {"isbn": PCI}, "isbn", "A book with this ISBN is already in the catalog."),
        (ADD, {"isbn": "0-596-52932-5"}, "isbn", "A book with this ISBN is already in the catalog."),
        (ADD, {"price": "cheap"}, "price", BAD_PRICE),
        (ADD, {"price": "-1"}, "price", BAD_PRICE),
        (ADD, {"price": "10000.01"}, "price", BAD_PRICE),
        (ADD, {"price": "NaN"}, "price", BAD_PRICE),
        (ADD, {"price": "1e2"}, "price", BAD_PRICE),
        (ADD, {"price": "1.999"}, "price", "Use at most two decimals."),
        (ADD, {"stock": "-3"}, "stock", BAD_STOCK),
        (ADD, {"stock": "2.5"}, "stock", BAD_STOCK),
        (ADD, {"stock": "²"}, "stock", BAD_STOCK),
        (ADD, {"stock": "100001"}, "stock", BAD_STOCK),
        (ADD, {"image": "javascript:alert(1)"}, "image", BAD_IMAGE),
        (ADD, {"image": "http://covers.example/c.png"}, "image", BAD_IMAGE),
        (ADD, {"image": 'https://covers.example/c.png" onerror="alert(1)'}, "image", BAD_IMAGE),
        (EDIT, {"isbn": RESTFUL}, "isbn", "The ISBN of a book can't be changed."),
        (EDIT, {"title": ""}, "title", REQUIRED),
        (EDIT, {"price": "free"}, "price", BAD_PRICE),
        (EDIT, {"stock": "lots"}, "stock", BAD_STOCK),
        (EDIT, {"image": "ftp://covers.example/c.png"}, "image", BAD_IMAGE),
        (ADD, {"image": "/static/../burts_books/app.py"}, "image", BAD_STEPS),
        (EDIT, {"image": "/static/images/../../README.md"}, "image", BAD_STEPS),
        (EDIT, {"image": "/static//etc/passwd"}, "image", BAD_STEPS),
        (EDIT, {"image": "/static/images/./no-cover.svg"}, "image", BAD_STEPS),
        (EDIT, {"image": "/covers/.."}, "image", BAD_STEPS),
    ],
)
@pytest.mark.gen_test
async def test_bad_input_is_shown_back_with_a_message_and_nothing_is_saved(
    staff, services, page, changes, field, message
):
    path, form = page
    form = {**form, **changes}
    before = await store_snapshot(services)

    response = await staff.post(path, form)

    assert response.code == 400
    assert field_errors(response.text) == {field: message}
    assert "nothing was saved" in response.text
    shown = form_values(response.text)
    for name, value in form.items():
        assert shown[name] == value.strip()
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_description_is_measured_as_saved_so_its_form_saves_again_unchanged(staff, services):
    # Made safe, each & is stored as &amp;: what the edit form then shows, and sends back.
    too_long = "<p>" + "Fish & chips. " * 300 + "</p>"
    stored_length = len(too_long) + 4 * too_long.count("&")
    assert len(too_long) <= 5000 < stored_length
    before = await store_snapshot(services)

    response = await staff.post(f"/edit/{PCI}", {**PCI_FORM, "description": too_long})

    assert response.code == 400
    assert field_errors(response.text) == {
        "description": f"At most 5000 characters as saved (this comes to {stored_length})."}
    assert 'aria-invalid="true" aria-describedby="e-description"' in response.text
    assert await store_snapshot(services) == before
    assert (await staff.post(f"/edit/{PCI}", {**PCI_FORM, "description": too_long[:3000] + "</p>"})).code == 303
    shown = form_values((await staff.get(f"/edit/{PCI}")).text)
    assert (await staff.post(f"/edit/{PCI}", {**shown, "price": "11.00"})).code == 303
    assert (await stored(services, PCI))["price_cents"] == 1100


@pytest.mark.gen_test
async def test_an_empty_form_lists_every_missing_field_at_once(staff, services):
    before = await store_snapshot(services)
    response = await staff.post("/add", {})
    assert response.code == 400
    assert field_errors(response.text) == dict.fromkeys(["isbn", "title", "author", "price", "stock"], REQUIRED)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_editing_a_book_that_does_not_exist_is_a_404(staff, services):
    before = await store_snapshot(services)
    response = await staff.post(f"/edit/{UNKNOWN_ISBN}", {**PCI_FORM, "isbn": UNKNOWN_ISBN})
    assert response.code == 404
    assert await store_snapshot(services) == before


# -- what reaches the page -------------------------------------------------------


@pytest.mark.parametrize("path, form, isbn", [("/add", NEW_BOOK, NEW_ISBN), (f"/edit/{PCI}", PCI_FORM, PCI)])
@pytest.mark.gen_test
async def test_description_html_is_sanitized_and_allowed_tags_kept(staff, services, path, form, isbn):
    description = (
        "<p>Fine <strong>print</strong>, <em>style</em> and "
        '<a href="https://ex.example/" onclick="steal()">a link</a>.</p>'
        "<script>alert('x')</script><img src=x onerror=\"alert(1)\">"
        '<a href="javascript:alert(2)">bad link</a><ul><li>kept</li></ul>'
    )
    assert (await staff.post(path, {**form, "description": description})).code == 303

    # What is stored is already clean, so API clients get the same safe HTML as the pages.
    api = (await staff.get(f"/api/books/{isbn}")).json()["description"]
    for shown in ("/recommended/", f"/books/{isbn}", api):
        page = shown if shown is api else (await staff.get(shown)).text
        for dangerous in ("<script>alert", "onerror", "onclick", "javascript:", "<img src=x"):
            assert dangerous not in page, (shown, dangerous)
        for kept in ("<strong>print</strong>", "<em>style</em>", "<ul><li>kept</li></ul>",
                     '<a href="https://ex.example/" rel="noopener noreferrer nofollow">a link</a>'):
            assert kept in page, (shown, kept)


@pytest.mark.gen_test
async def test_markup_in_plain_fields_is_shown_as_text(staff):
    await staff.post("/add", {**NEW_BOOK, "title": "<script>alert(1)</script> Tricks"})
    page = (await staff.get("/recommended/")).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tricks" in page


@pytest.mark.gen_test
async def test_a_refused_form_does_not_run_what_was_typed(staff):
    typed = "</textarea><script>alert(1)</script>"
    response = await staff.post("/add", {**NEW_BOOK, "title": "", "description": typed})
    assert response.code == 400
    assert "<script>alert(1)</script>" not in response.text
    assert form_values(response.text)["description"] == typed


# -- stock held in carts ---------------------------------------------------------


async def hold_in_carts(services, isbn, copies):
    """What shoppers' carts do to a book: fewer copies available, stock on hand unchanged."""
    await services.db.books.update_one({"isbn": isbn}, {"$inc": {"available": -copies}})


@pytest.mark.gen_test
async def test_stock_cannot_go_below_the_copies_in_carts(staff, services):
    await hold_in_carts(services, PCI, 3)
    before = await store_snapshot(services)

    response = await staff.post(f"/edit/{PCI}", {**PCI_FORM, "title": "Renamed", "stock": "2"})

    assert response.code == 400
    assert field_errors(response.text) == {"stock": "3 copies are in shoppers' carts; stock can't go below 3."}
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_an_edit_saved_meanwhile_is_not_undone_by_a_form_shown_before_it(staff, services):
    await services.accounts.register("second@burtsbooks.example", PASSWORD, staff=True)
    other = staff.another()
    await other.login("second@burtsbooks.example")
    mine, theirs = [form_values((await browser.get(f"/edit/{PCI}")).text) for browser in (staff, other)]
    assert (await staff.post(f"/edit/{PCI}", {**mine, "title": "Renamed by me"})).code == 303
    before = await store_snapshot(services)

    response = await other.post(f"/edit/{PCI}", {**theirs, "price": "12.00"})

    assert response.code == 400
    assert f"{STAFF_EMAIL} saved this book while you were editing it, so your changes to it were not saved" in text_of(
        response.text)
    # Each field that differs from what is saved now says so: the title saved meanwhile, the price typed.
    assert field_errors(response.text) == {"title": "Saved meanwhile as: Renamed by me",
                                           "price": "Saved meanwhile as: 39.99"}
    assert await store_snapshot(services) == before
    # Shown the other edit, they keep its title and save their price.
    shown = form_values(response.text)
    assert shown["price"] == "12.00"
    assert (await other.post(f"/edit/{PCI}", {**shown, "title": "Renamed by me"})).code == 303
    book = await stored(services, PCI)
    assert (book["title"], book["price_cents"]) == ("Renamed by me", 1200)


@pytest.mark.gen_test
async def test_of_two_edits_saved_at_the_same_moment_from_one_version_the_second_is_refused(services, monkeypatch):
    current = await stored(services, PCI)
    retitled = {**book_form(current), "title": "Title by A", "stock": str(current["stock"] + 1)}
    repriced = {**book_form(current), "price": "12.34"}
    set_stock = services.inventory.set_stock

    async def first_one_slowly(*args, **kwargs):  # A's stock is written while B's edit goes through
        if kwargs.get("who") == "a@burtsbooks.example":
            await asyncio.sleep(0.05)
        return await set_stock(*args, **kwargs)

    monkeypatch.setattr(services.inventory, "set_stock", first_one_slowly)
    seen = {"expected_stock": current["stock"], "expected_version": current.get("catalog_version", 0)}
    saves = await asyncio.gather(services.catalog.update(PCI, retitled, "a@burtsbooks.example", **seen),
                                 services.catalog.update(PCI, repriced, "b@burtsbooks.example", **seen),
                                 return_exceptions=True)

    assert isinstance(saves[0], EditConflict) and not isinstance(saves[1], Exception)
    book = await stored(services, PCI)
    assert (book["title"], book["price_cents"]) == (current["title"], 1234)  # B's price stands
    # A's stock went in before B's edit landed: A is told so, not that nothing was saved.
    assert book["stock"] == current["stock"] + 1
    assert "were not saved but for the copies in stock, which were" in str(saves[0])


@pytest.mark.gen_test
async def test_a_form_shown_before_an_edit_that_it_agrees_with_saves(staff, services):
    mine = form_values((await staff.get(f"/edit/{PCI}")).text)
    assert (await staff.post(f"/edit/{PCI}", {**mine, "title": "Renamed"})).code == 303
    # The same change again, from the form shown before it: nothing of anyone's is undone.
    assert (await staff.post(f"/edit/{PCI}", {**mine, "title": "Renamed", "stock": "9"})).code == 303
    book = await stored(services, PCI)
    assert (book["title"], book["stock"]) == ("Renamed", 9)


@pytest.mark.gen_test
async def test_stock_can_go_down_to_the_copies_in_carts(staff, services):
    await hold_in_carts(services, PCI, 3)
    response = await staff.post(f"/edit/{PCI}", {**PCI_FORM, "stock": "3"})
    assert response.code == 303
    book = await stored(services, PCI)
    assert (book["stock"], book["available"]) == (3, 0)  # the carts keep their copies
