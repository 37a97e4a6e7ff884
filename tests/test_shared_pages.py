"""Pages every visitor shares are rendered once and reused; what shows who is visiting never is.

Each visitor must see their own sign-in state, cart and XSRF token on a page
rendered for someone else, and nobody a count older than the one announced.
"""

import re

import pytest

from tests.constants import PASSWORD, PCI, SHOPPER_EMAIL, STAFF_EMAIL
from tests.shop_client import cart_count, text_of

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
