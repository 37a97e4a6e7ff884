"""The change history: every change to a book and every stock movement, written with the change itself,
shown per book on its edit page and on /staff/history with filters."""

import datetime
import urllib.parse

import pytest

from burts_books import history
from burts_books.catalog import parse_book_form
from tests.constants import PCI, RESTFUL, SHOPPER_EMAIL, STAFF_EMAIL, UNKNOWN_ISBN
from tests.shop_client import form_values, text_of
from tests.store import age_carts, stock_of, store_snapshot


async def entries(services, isbn=PCI, **criteria):
    """The history entries of a book, oldest first, as stored."""
    found = services.db.history.find({"isbn": isbn, **criteria}, {"_id": 0, "at": 0}).sort("at", 1)
    return await found.to_list(None)


async def pending(services, isbn=PCI):
    """The book's entries not yet in the history; None once the field is gone, as it should be."""
    return (await services.db.books.find_one({"isbn": isbn})).get(history.PENDING)


@pytest.mark.gen_test
async def test_an_edit_records_each_changed_field_with_old_and_new_values(staff, services):
    form = form_values((await staff.get(f"/edit/{PCI}")).text)
    await staff.post(f"/edit/{PCI}", {**form, "title": "PCI, 2nd ed.", "price": "44", "stock": "15"})

    recorded = await entries(services)
    assert {"kind": "edit", "who": STAFF_EMAIL, "isbn": PCI, "field": "title",
            "old": "Programming Collective Intelligence", "new": "PCI, 2nd ed."} in recorded
    assert {"kind": "edit", "who": STAFF_EMAIL, "isbn": PCI, "field": "price_cents",
            "old": 3999, "new": 4400} in recorded
    assert {"kind": "stock", "who": STAFF_EMAIL, "isbn": PCI, "copies": 3, "old": 12, "new": 15} in recorded
    assert len(recorded) == 3  # the unchanged fields are not recorded
    assert await pending(services) is None  # drained at once, leaving the book as it was


@pytest.mark.gen_test
async def test_add_restock_and_withdrawal_are_recorded(staff, services):
    form = form_values((await staff.get(f"/edit/{PCI}")).text)
    await staff.post("/add", {**form, "isbn": UNKNOWN_ISBN, "title": "New", "stock": "4", "stock_seen": ""})
    await staff.post(f"/edit/{PCI}/restock", {"copies": "5"})
    await staff.post(f"/staff/books/{PCI}/withdraw", {"withdraw": "1"})
    await staff.post(f"/staff/books/{PCI}/withdraw", {"withdraw": "0"})

    assert await entries(services, UNKNOWN_ISBN) == [{"kind": "added", "who": STAFF_EMAIL, "isbn": UNKNOWN_ISBN,
                                                      "copies": 4}]
    assert [(e["kind"], e.get("copies")) for e in await entries(services)] == [
        ("restock", 5), ("withdrawn", None), ("restored", None)]


@pytest.mark.gen_test
async def test_a_sale_and_a_cancellation_are_stock_movements(shopper, services):
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    await shopper.post("/cart", {"action": "add", "isbn": PCI})
    assert (await shopper.check_out(name="A. Reader", phone="555 0100")).code == 303
    [sale] = await entries(services)
    number = sale["order"]
    assert sale == {"kind": "sale", "who": SHOPPER_EMAIL, "isbn": PCI, "copies": -2, "order": number}

    # Staff call the order off: the copies come back on sale, recorded with who and which order.
    staff_member = await services.accounts.register(STAFF_EMAIL, "a long passphrase", staff=True)
    await services.orders.cancel(await services.orders.by_number(number), staff_member)
    assert (await stock_of(services))["available"] == 12
    assert (await entries(services))[-1] == {"kind": "cancellation", "who": STAFF_EMAIL, "isbn": PCI,
                                             "copies": 2, "order": number}
    sold = await services.history.sold_since([PCI], datetime.datetime(2000, 1, 1))
    assert sold == {PCI: 0}


@pytest.mark.gen_test
async def test_a_reconciliation_is_recorded_and_cart_holds_are_not(client, services):
    await client.post("/cart", {"action": "add", "isbn": PCI})
    await client.post("/cart", {"action": "remove", "isbn": PCI})
    assert await entries(services) == []  # holding copies in a cart moves no stock on hand

    await services.db.books.update_one({"isbn": PCI}, {"$set": {"available": 3}})  # a crash left it wrong
    await age_carts(services, 60)  # the cart's last change is long done
    await services.inventory.reconcile(services.carts.held_copies)
    assert await entries(services) == [{"kind": "reconciliation", "who": history.SHOP, "isbn": PCI,
                                         "old": 3, "new": 12}]


@pytest.mark.gen_test
async def test_an_import_records_what_it_changed(services):
    book = await services.catalog.get_current(PCI)
    form = {"isbn": PCI, "title": "Imported Title", "author": book["author"], "price": "39.99", "stock": "20"}
    done = await services.catalog.upsert_many([parse_book_form(form)], "import:feed.csv")
    assert done.updated == [PCI]
    kinds = {(e["kind"], e.get("field")) for e in await entries(services)}
    assert ("edit", "title") in kinds and ("stock", None) in kinds
    assert {e["who"] for e in await entries(services)} == {"import:feed.csv"}


@pytest.mark.gen_test
async def test_entries_left_pending_by_a_crash_are_drained_once_by_housekeeping(services):
    # A change written with its entry, then the process died before draining it.
    entry = history.entry("restock", STAFF_EMAIL, PCI, copies=1)
    restock = history.recording({"$inc": {"stock": 1, "available": 1}}, [entry])
    await services.db.books.update_one({"isbn": PCI}, restock)
    # ... and another process had already copied it, but not pulled it.
    await services.db.history.insert_one(dict(entry))
    assert await entries(services) == [{"kind": "restock", "who": STAFF_EMAIL, "isbn": PCI, "copies": 1}]

    await services.housekeeping(3600)
    assert await pending(services) is None
    assert len(await entries(services)) == 1  # copied once, whatever happened before


@pytest.mark.gen_test
async def test_an_entry_added_while_a_drain_runs_stays_pending_for_the_next(services, monkeypatch):
    first, second = (history.entry("restock", STAFF_EMAIL, PCI, copies=n) for n in (1, 2))
    await services.db.books.update_one({"isbn": PCI}, history.recording({"$inc": {"stock": 1}}, [first]))
    copy_entries = services.history.entries.insert_many

    async def then_another_change(entries, **kwargs):
        result = await copy_entries(entries, **kwargs)
        await services.db.books.update_one({"isbn": PCI}, history.recording({"$inc": {"stock": 2}}, [second]))
        return result

    monkeypatch.setattr(services.history.entries, "insert_many", then_another_change)
    assert await services.history.drain("books", {"isbn": PCI}) == 1
    assert [entry["_id"] for entry in await pending(services)] == [second["_id"]]
    monkeypatch.setattr(services.history.entries, "insert_many", copy_entries)
    assert await services.history.drain("books", {"isbn": PCI}) == 1
    assert await pending(services) is None
    assert sorted(entry["copies"] for entry in await entries(services)) == [1, 2]


@pytest.mark.gen_test
async def test_the_edit_page_shows_the_books_history(staff, services):
    await staff.post(f"/edit/{PCI}/restock", {"copies": "5"})
    page = text_of((await staff.get(f"/edit/{PCI}")).text)
    assert "History" in page and f"{STAFF_EMAIL} restocked: +5 copies" in page


@pytest.mark.gen_test
async def test_the_history_page_filters_by_book_kind_who_and_date(staff, services):
    await staff.post(f"/edit/{PCI}/restock", {"copies": "5"})
    await staff.post(f"/edit/{RESTFUL}/restock", {"copies": "2"})
    await staff.post(f"/staff/books/{RESTFUL}/withdraw", {"withdraw": "1"})

    everything = text_of((await staff.get("/staff/history")).text)
    assert "3 changes" in everything
    by_book = text_of((await staff.get(f"/staff/history?isbn={RESTFUL}")).text)
    assert "2 changes" in by_book and "Programming Collective Intelligence" not in by_book
    by_kind = text_of((await staff.get("/staff/history?kind=restock")).text)
    assert "2 changes" in by_kind and "withdrawn from sale" not in by_kind
    assert "No changes match." in text_of((await staff.get(f"/staff/history?who={SHOPPER_EMAIL}")).text)
    today = datetime.datetime.now(datetime.UTC).date()
    assert "3 changes" in text_of((await staff.get(f"/staff/history?since={today}&until={today}")).text)
    tomorrow = today + datetime.timedelta(days=1)
    assert "No changes match." in text_of((await staff.get(f"/staff/history?since={tomorrow}")).text)


@pytest.mark.gen_test
async def test_the_who_filter_finds_a_name_as_recorded_and_an_email_in_any_case(staff, services):
    await services.inventory.restock(PCI, 5, STAFF_EMAIL)
    form = {"isbn": PCI, "title": "Imported Title", "author": "Toby Segaran", "price": "39.99", "stock": "5"}
    await services.catalog.upsert_many([parse_book_form(form)], f"import of NewPrices.csv by {STAFF_EMAIL}")
    imported = len(await entries(services, who=f"import of NewPrices.csv by {STAFF_EMAIL}"))
    assert imported >= 1
    for who, changes in ((f"import of NewPrices.csv by {STAFF_EMAIL}", imported),
                         (STAFF_EMAIL.upper(), 1), (STAFF_EMAIL, 1), (f"import of newprices.csv by {STAFF_EMAIL}", 0)):
        shown = text_of((await staff.get("/staff/history?" + urllib.parse.urlencode({"who": who}))).text)
        assert (f"{changes} change" in shown) if changes else ("No changes match." in shown), who


@pytest.mark.gen_test
async def test_the_last_day_of_the_calendar_is_a_day_like_any(staff, services):
    await services.inventory.restock(PCI, 5, STAFF_EMAIL)
    response = await staff.get("/staff/history?since=2000-01-01&until=9999-12-31")
    assert response.code == 200
    assert "1 change" in text_of(response.text)


@pytest.mark.gen_test
async def test_the_history_page_is_paged_newest_first(staff, services):
    for copies in range(1, 53):
        await services.inventory.restock(PCI, copies, STAFF_EMAIL)
    first = (await staff.get("/staff/history")).text
    assert "restocked: +52 copies" in text_of(first) and "restocked: +2 copies" not in text_of(first)
    assert 'rel="next"' in first and "Page 1 of 2" in text_of(first)
    second = text_of((await staff.get("/staff/history?page=2")).text)
    assert "restocked: +2 copies" in second and "restocked: +1 copy" in second
    assert "restocked: +52 copies" not in second


@pytest.mark.parametrize("query, field, message", [
    ("isbn=12345", "isbn", "Give a valid ISBN-10 or ISBN-13."),
    ("kind=deleted", "kind", "Choose a kind of change from the list."),
    ("since=yesterday", "since", "Give a date like 2026-12-01."),
    ("since=2026-12-02&until=2026-12-01", "until", "The end date comes before the start date."),
])
@pytest.mark.gen_test
async def test_bad_filters_are_shown_on_the_filter_form(staff, query, field, message):
    response = await staff.get(f"/staff/history?{query}")
    assert response.code == 400
    assert f'<span class="error" id="e-{field}">{message}</span>' in response.text.replace("&#39;", "'")
    assert f'aria-invalid="true" aria-describedby="e-{field}"' in response.text  # the field says it is wrong


@pytest.mark.gen_test
async def test_the_history_is_for_staff_only(shopper, services):
    assert (await shopper.get("/staff/history")).code == 403
    anonymous = shopper.another()
    response = await anonymous.get("/staff/history")
    assert (response.code, response.location) == (302, "/login?next=%2Fstaff%2Fhistory")


@pytest.mark.gen_test
async def test_a_refused_change_records_nothing(staff, services):
    before = await store_snapshot(services)
    assert (await staff.post(f"/edit/{PCI}/restock", {"copies": "lots"})).code == 400
    assert (await staff.post(f"/staff/books/{PCI}/withdraw", {"withdraw": "1"}, xsrf=False)).code == 403
    assert await store_snapshot(services) == before
    assert await entries(services) == []


@pytest.mark.gen_test
async def test_other_documents_record_their_changes_the_same_way(staff, services):
    """What order actions will do: an entry about an order (no book) in the order's own update."""
    order = await services.db.orders.insert_one({"status": "placed"})
    ready = history.entry("ready_for_pickup", STAFF_EMAIL, order="A12")
    await services.db.orders.update_one(
        {"_id": order.inserted_id}, history.recording({"$set": {"status": "ready_for_pickup"}}, [ready]))
    assert await services.history.drain("orders", {"_id": order.inserted_id}) == 1
    page = text_of((await staff.get("/staff/history")).text)
    assert f"{STAFF_EMAIL} ready for pickup: order A12" in page
