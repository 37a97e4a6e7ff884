"""Rendered book fragments are reused, but never show an old version of a book or one visitor's view to another."""

import pytest

from burts_books import catalog as catalog_module
from burts_books.infra.clock import utcnow
from tests.constants import PCI, STAFF_EMAIL
from tests.shop_client import text_of


@pytest.mark.gen_test
async def test_the_staff_edit_link_stays_with_staff(staff, services):
    anonymous = staff.another()
    for reader, edit_links in ((anonymous, 0), (staff, 12), (anonymous, 0), (staff, 12)):
        page = (await reader.get("/recommended/")).text
        assert page.count('class="edit"') == edit_links


@pytest.mark.gen_test
async def test_every_edit_shows_at_once_even_two_in_the_same_millisecond(staff, services, monkeypatch):
    assert "Programming Collective Intelligence" in (await staff.get("/recommended/")).text
    book = await services.catalog.get_current(PCI)
    form = {name: str(book.get(name, "")) for name in
            ("isbn", "title", "subtitle", "image", "author", "date_released", "description", "stock")}
    # The clock stands still: every edit bears the same time, so only the catalog version tells them apart.
    now = utcnow()
    monkeypatch.setattr(catalog_module, "utcnow", lambda: now)
    for title in ("First Title", "Second Title"):
        await services.catalog.update(PCI, {**form, "title": title, "price": "39.99"}, STAFF_EMAIL)
        assert title in text_of((await staff.get("/recommended/")).text)
    await services.catalog.update(PCI, {**form, "title": "Third Title", "price": "39.99"}, STAFF_EMAIL)
    await services.catalog.update(PCI, {**form, "title": "Fourth Title", "price": "39.99"}, STAFF_EMAIL)
    page = text_of((await staff.get("/recommended/")).text)
    assert "Fourth Title" in page and "Third Title" not in page and "Programming Collective" not in page
