"""Pages every visitor shares are rendered once and reused; what shows who is visiting never is.

Each visitor must see their own sign-in state, cart and XSRF token on a page
rendered for someone else, and nobody a count older than the one announced.
"""

import datetime
import re

import jinja2
import pytest

from burts_books import carts as carts_module
from burts_books import templating
from burts_books.infra.clock import utcnow
from burts_books.web.base import BaseHandler
from burts_books.web.shared_pages import NONCE, XSRF_FIELD, apart_at_placeholders
from tests.constants import PASSWORD, PCI, SHOPPER_EMAIL, STAFF_EMAIL, STARTER_BOOKS
from tests.shop_client import cart_count, signed_in_as, text_of

SHARED = ["/", "/recommended/", "/books/", "/books/?q=python", "/books/?q=python&sort=price", f"/books/{PCI}"]


def xsrf_fields(html: str) -> set[str]:
    return set(re.findall(r'name="_xsrf" value="([^"]+)"', html))


@pytest.fixture
def visitors(client, services, io_loop):
    """An anonymous visitor, a signed-in shopper holding two copies, and a member of staff."""
    return io_loop.run_sync(lambda: make_visitors(client, services))


async def make_visitors(client, services):
    anonymous = client.another()
    shopper = client.another()
    await services.accounts.register(SHOPPER_EMAIL, PASSWORD)
    await shopper.login(SHOPPER_EMAIL)
    await shopper.cart_json("add")
    await shopper.cart_json("add")
    staff = client.another()
    await services.accounts.register(STAFF_EMAIL, PASSWORD, staff=True)
    await staff.login(STAFF_EMAIL)
    return anonymous, shopper, staff


@pytest.mark.parametrize("path", SHARED)
@pytest.mark.gen_test
async def test_each_visitor_sees_themselves_on_a_page_rendered_for_another(visitors, path):
    anonymous, shopper, staff = visitors
    for _ in range(2):  # the second round is served from what the first rendered
        for visitor in (anonymous, shopper, staff, anonymous):
            response = await visitor.get(path)
            assert response.code == 200
            page, text = response.text, text_of(response.text)
            if visitor is anonymous:
                assert "Sign in" in text and SHOPPER_EMAIL not in text and STAFF_EMAIL not in text
                assert cart_count(page) == 0 and "Add a book" not in text and 'class="edit"' not in page
            elif visitor is shopper:
                assert SHOPPER_EMAIL in text and "Orders" in text and cart_count(page) == 2
                assert "Add a book" not in text and 'class="edit"' not in page
            else:
                assert f"{STAFF_EMAIL} (staff)" in text and "Add a book" in text and cart_count(page) == 0


@pytest.mark.gen_test
async def test_a_form_on_a_shared_page_carries_its_own_visitors_token(visitors):
    anonymous, shopper, _ = visitors
    mine = (await anonymous.get(f"/books/{PCI}")).text
    theirs = (await shopper.get(f"/books/{PCI}")).text
    (my_token,), (their_token,) = xsrf_fields(mine), xsrf_fields(theirs)
    # The shopper's token, posted with the anonymous visitor's cookie, is refused: tokens are not shared.
    refused = await anonymous.post("/cart", {"action": "add", "isbn": PCI, "_xsrf": their_token})
    assert refused.code == 403
    accepted = await anonymous.post("/cart", {"action": "add", "isbn": PCI, "_xsrf": my_token})
    assert accepted.code == 303


@pytest.mark.gen_test
async def test_a_count_changed_by_another_visitor_shows_at_once(visitors, services):
    anonymous, shopper, _ = visitors
    before = await anonymous.get(f"/books/{PCI}")
    assert 'data-available="10" data-in-cart="0"' in before.text and 'data-version="3"' in before.text
    assert "2 copies are in your cart" in text_of((await shopper.get(f"/books/{PCI}")).text)
    await shopper.cart_json("remove")
    after = await anonymous.get(f"/books/{PCI}")
    assert 'data-available="11" data-in-cart="0"' in after.text and 'data-version="4"' in after.text
    assert "One copy is in your cart" in text_of((await shopper.get(f"/books/{PCI}")).text)


@pytest.mark.gen_test
async def test_an_edit_shows_on_every_shared_page_at_once(visitors, services):
    anonymous, _, _ = visitors
    for path in SHARED:
        await anonymous.get(path)
    book = await services.catalog.get_current(PCI)
    form = {name: str(book.get(name, "")) for name in
            ("isbn", "subtitle", "image", "author", "date_released", "description", "stock")}
    await services.catalog.update(PCI, {**form, "title": "Collective Intelligence", "price": "39.99"},
                                  STAFF_EMAIL)
    for path in ("/", "/recommended/", "/books/", f"/books/{PCI}"):
        text = text_of((await anonymous.get(path)).text)
        assert "Programming Collective Intelligence" not in text, path
    assert "Collective Intelligence" in text_of((await anonymous.get(f"/books/{PCI}")).text)


@pytest.mark.gen_test
async def test_a_search_query_is_not_shown_on_another_address(visitors):
    anonymous, shopper, _ = visitors
    assert 'value="python"' in (await anonymous.get("/books/?q=python")).text
    assert 'value="python"' not in (await shopper.get("/books/")).text


@pytest.mark.gen_test
async def test_made_up_query_arguments_do_not_each_keep_a_page(visitors, app):
    anonymous, _, _ = visitors
    await anonymous.get("/recommended/")
    kept = len(app.settings["pages"])
    for n in range(20):
        assert (await anonymous.get(f"/recommended/?utm={n}")).code == 200
    assert len(app.settings["pages"]) == kept


@pytest.mark.gen_test
async def test_visitors_not_yet_signed_in_each_get_their_own_token_and_way_back(client):
    first, second = client.another(), client.another()
    pages = {}
    for visitor in (first, second, first):
        for path in (f"/books/{PCI}", f"/books/{PCI}?from=list"):
            pages[visitor, path] = (await visitor.get(path)).text
    first_tokens, second_tokens = (xsrf_fields(pages[visitor, f"/books/{PCI}"]) for visitor in (first, second))
    assert len(first_tokens) == len(second_tokens) == 1 and first_tokens != second_tokens
    way_back = f'href="/login?next=%2Fbooks%2F{PCI}'
    assert f'{way_back}%3Ffrom%3Dlist"' in pages[second, f"/books/{PCI}?from=list"]
    assert f'{way_back}"' in pages[second, f"/books/{PCI}"]
    (token,) = second_tokens
    assert (await second.post("/cart", {"action": "add", "isbn": PCI, "_xsrf": token})).code == 303
    # Now with a cart of their own, the part kept for visitors without one is not theirs.
    left = re.search(r'data-available="(\d+)"', pages[first, f"/books/{PCI}"]).group(1)
    now = int(left) - 1
    assert f'data-available="{now}" data-in-cart="1"' in (await second.get(f"/books/{PCI}")).text
    assert f'data-available="{now}" data-in-cart="0"' in (await first.get(f"/books/{PCI}")).text


@pytest.mark.gen_test
async def test_the_sign_in_link_of_a_kept_part_leads_back_to_its_own_page(client):
    visitor = client.another()
    for _ in range(2):
        for path, escaped in (("/books/?q=python", "%2Fbooks%2F%3Fq%3Dpython"), ("/books/", "%2Fbooks%2F"),
                              ("/recommended/", "%2Frecommended%2F"), ("/", "%2F")):
            assert f'href="/login?next={escaped}"' in (await visitor.get(path)).text, path


@pytest.mark.gen_test
async def test_the_sign_in_link_of_a_page_answering_a_form_leads_home(client):
    # The form's address, asked again after signing in, would not show that page again.
    refused = await client.post("/register?next=%2Fbooks%2F", {"email": "new@example.com", "password": "short"})
    assert refused.code == 400
    assert 'href="/login?next=%2F"' in refused.text and "next=%2Fregister" not in refused.text
    assert 'href="/login?next=%2Fregister"' in (await client.get("/register")).text


def override_templates(app, templates: dict[str, str]) -> None:
    """The shop's templates, but these in place of some (for what a part may read)."""
    env = app.settings["jinja"]
    env.loader = jinja2.ChoiceLoader([jinja2.DictLoader(templates), env.loader])
    env.cache.clear()


@pytest.mark.gen_test
async def test_a_part_that_reads_the_request_is_kept_per_page(app, client):
    # Kept once for every page, such a part would show one page's address on all of them.
    override_templates(app, {"parts/visitor.html": "<b id=here>{{ request.uri }}</b>"})
    visitor = client.another()
    for path in ("/recommended/", f"/books/{PCI}", "/books/?q=python", "/recommended/"):
        assert f"<b id=here>{path}</b>" in (await visitor.get(path)).text, path


@pytest.mark.gen_test
async def test_a_part_sees_the_same_of_a_page_whether_it_was_just_rendered_or_kept(app, visitors):
    # What only the kept page shows (render_shared's page_args: Recommended Reading's books) is not
    # the parts': a part reading it would show it to the visitor who made the page, and to no one after.
    override_templates(app, {"parts/visitor.html": "<b id=sees>{{ books is defined }}</b>"})
    for visitor in visitors:  # the first renders the page; the others fill in the page it kept
        assert "<b id=sees>False</b>" in (await visitor.get("/recommended/")).text


def listed_available(html: str, isbn: str) -> int:
    return int(re.search(rf'data-isbn="{isbn}" data-version="\d+" data-available="(\d+)"', html).group(1))


@pytest.mark.gen_test
async def test_a_listing_kept_as_filled_in_shows_a_count_changed_meanwhile(visitors):
    anonymous, shopper, _ = visitors
    for _ in range(2):  # the second answer is the page as kept filled in
        before = listed_available((await anonymous.get("/recommended/")).text, PCI)
    await shopper.cart_json("add")
    assert listed_available((await anonymous.get("/recommended/")).text, PCI) == before - 1
    await shopper.cart_json("remove")
    assert listed_available((await anonymous.get("/recommended/")).text, PCI) == before


@pytest.mark.gen_test
async def test_shoppers_each_see_their_own_cart_on_pages_kept_for_them(client, services):
    first, second = client.another(), client.another()
    shoppers = {first: ("first@example.com", 1), second: ("second@example.com", 3)}
    for shopper, (email, copies) in shoppers.items():
        await services.accounts.register(email, PASSWORD)
        await shopper.login(email)
        for _ in range(copies):
            await shopper.cart_json("add")
    for _ in range(2):
        for shopper, (email, copies) in shoppers.items():
            for path in SHARED:
                page = (await shopper.get(path)).text
                assert cart_count(page) == copies and await signed_in_as(shopper) == email, path
                assert "second@example.com" not in page if shopper is first else "first@example.com" not in page
    # The next page after a change shows it, and signing out shows a visitor signed out.
    await first.cart_json("add")
    assert "2 copies are in your cart" in text_of((await first.get(f"/books/{PCI}")).text)
    page = (await first.get("/account")).text
    token = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    await first.post("/logout", {"_xsrf": token})
    assert await signed_in_as(first) is None
    assert "Sign in" in text_of((await first.get(f"/books/{PCI}")).text)


@pytest.mark.gen_test
async def test_a_kept_page_warns_of_a_hold_ending_once_the_time_comes(client, monkeypatch):
    await client.cart_json("add")
    for _ in range(2):
        assert "hold-ending" not in (await client.get(f"/books/{PCI}")).text
    later = utcnow() + datetime.timedelta(minutes=9)  # of an anonymous hold's ten
    monkeypatch.setattr(carts_module, "utcnow", lambda: later)
    assert "We hold your copies only until" in text_of((await client.get(f"/books/{PCI}")).text)


@pytest.mark.gen_test
async def test_every_answer_from_a_kept_page_carries_its_own_nonce(visitors):
    anonymous, shopper, _ = visitors
    for visitor in (anonymous, shopper):
        nonces = set()
        for _ in range(3):
            response = await visitor.get(f"/books/{PCI}")
            nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
            assert f'<script type="application/ld+json" nonce="{nonce}">' in response.text
            nonces.add(nonce)
        assert len(nonces) == 3


@pytest.mark.gen_test
async def test_a_part_is_kept_with_only_what_it_reads_of_the_page(client, monkeypatch):
    rendered = []
    render_part = BaseHandler._render_part

    def counting(handler, template_name):
        rendered.append(template_name)
        return render_part(handler, template_name)

    monkeypatch.setattr(BaseHandler, "_render_part", counting)
    visitor, shopper = client.another(), client.another()
    isbns = [book["isbn"] for book in STARTER_BOOKS[:3]]
    for isbn in isbns:
        page = (await visitor.get(f"/books/{isbn}")).text
        assert f'href="/login?next=%2Fbooks%2F{isbn}"' in page and 'data-count="0"' in page
    # The cart badge and the account area read nothing of the page: once for every page (the sign-in
    # link's way back, checked above for each, is put in after). The stock reads the book: once a page.
    assert rendered.count("parts/cart_badge.html") == rendered.count("parts/visitor.html") == 1
    assert rendered.count("parts/book_stock.html") == len(isbns)
    # Another shopper's add changes the book, so its page and its stock are rendered anew; the parts
    # that do not read the book stay as kept.
    assert (await shopper.cart_json("add", isbns[0])).code == 200
    rendered.clear()
    assert 'data-count="0"' in (await visitor.get(f"/books/{isbns[0]}")).text
    assert rendered == ["parts/book_stock.html"]


def test_a_template_that_includes_another_may_read_anything():
    env = jinja2.Environment(loader=jinja2.DictLoader({
        "plain.html": "{{ cart.count }} {{ reverse_url('cart') }}{% set n = 1 %}{{ n }}",
        "including.html": "{% include 'plain.html' %}",
    }))
    assert templating.names_read(env.get_template("plain.html")) == {"cart", "reverse_url"}
    assert templating.names_read(env.get_template("including.html")) is None
    assert templating.names_read(env.from_string("{{ cart.count }}")) is None  # no source to read again


def test_start_up_compiles_every_template_and_reads_what_it_reads_so_no_request_does(monkeypatch):
    env = jinja2.Environment(loader=jinja2.DictLoader({
        "plain.html": "{{ cart.count }}", "page.html": "{% include 'plain.html' %}",
    }))
    assert templating.compile_all(env) == 2

    def no_more(*args, **kwargs):
        raise AssertionError("parsed or compiled while answering")

    monkeypatch.setattr(env, "parse", no_more)
    monkeypatch.setattr(env, "compile", no_more)
    assert env.get_template("page.html").render(cart={"count": 3}) == "3"
    assert templating.names_read(env.get_template("plain.html")) == {"cart"}


@pytest.mark.parametrize("page", [
    "", "no placeholder", f"{XSRF_FIELD}", f"{NONCE}{NONCE}", f"a{XSRF_FIELD}b{NONCE}c{XSRF_FIELD}",
    f"{NONCE}<form>{XSRF_FIELD}{XSRF_FIELD}</form>{NONCE}",
])
def test_a_kept_page_is_kept_apart_at_its_placeholders_and_loses_nothing(page):
    pieces = apart_at_placeholders(page.encode())
    assert b"".join(pieces) == page.encode()
    assert all(piece in (XSRF_FIELD.encode(), NONCE.encode()) for piece in pieces[1::2])
    assert len(pieces[1::2]) == page.count(XSRF_FIELD) + page.count(NONCE)
