"""Notify me: on a sold-out title a shopper leaves an email (or uses their account's) and gets exactly one
mail when copies are on sale again, driven by the inventory events, however many processes hear them."""

import asyncio

import pytest

from burts_books.infra.mail import SmtpMailer
from burts_books.restock_alerts import RestockAlerts
from tests.constants import ADDRESS, JSON, PCI, SHOPPER_EMAIL, STAFF_EMAIL
from tests.mail_server import body_of
from tests.shop_client import text_of
from tests.store import set_stock, store_snapshot
from tests.waiting import until

READER = "waiting.reader@example.com"
QUIET = 0.3  # seconds in which no further mail may arrive


async def sold_out(services):
    await services.inventory.set_stock(PCI, 0)


async def restock(services, copies=3):
    await services.inventory.restock(PCI, copies, STAFF_EMAIL)


async def withdraw(staff, withdraw=True):
    response = await staff.post(f"/staff/books/{PCI}/withdraw", {"withdraw": "1" if withdraw else "0"})
    assert response.code == 303, text_of(response.text)


@pytest.mark.gen_test
async def test_a_shopper_on_a_sold_out_title_gets_one_mail_when_it_is_back(client, services, mail):
    await sold_out(services)
    page = await client.get(f"/books/{PCI}")
    assert "Email me once when it's back in stock" in text_of(page.text)

    response = await client.post(f"/books/{PCI}/notify", {"email": " Waiting.Reader@Example.com "})
    assert response.code == 200
    assert f"We'll email {READER} once, when it's back in stock." in text_of(response.text)

    await restock(services)
    await until(lambda: mail.to(READER), message="no back-in-stock mail arrived")
    [message] = mail.to(READER)
    assert message["Subject"] == "Back in stock: Programming Collective Intelligence"
    assert "This is the only mail we send about it." in body_of(message)

    # More events about the title (a cart add, another restock) send nothing more.
    await client.post("/cart", {"action": "add", "isbn": PCI})
    await restock(services)
    await asyncio.sleep(QUIET)
    assert len(mail.to(READER)) == 1


@pytest.mark.gen_test
async def test_a_signed_in_shopper_is_mailed_at_their_accounts_address(shopper, services, mail):
    await sold_out(services)
    page = await shopper.get(f"/books/{PCI}")
    assert f"We'll write once, to {SHOPPER_EMAIL}." in text_of(page.text)
    response = await shopper.post(f"/books/{PCI}/notify", {})
    assert response.code == 200
    await restock(services)
    await until(lambda: mail.to(SHOPPER_EMAIL), message="no back-in-stock mail arrived")


@pytest.mark.gen_test
async def test_several_processes_hearing_the_event_send_one_mail(services, mail):
    """Each process has its own RestockAlerts on the same database and bus; the claim lets one of them send."""
    others = [RestockAlerts(services.db, services.bus, services.inventory, services.limits,
                            SmtpMailer(mail.url, "shop@example.com")) for _ in range(3)]
    for alerts in others:
        await alerts.start()
    await sold_out(services)
    await services.restock_alerts.ask(PCI, READER, ADDRESS)
    for alerts in others:
        await alerts.catch_up()  # they know of the alert (each process reads them at start and on housekeeping)

    await restock(services)
    await until(lambda: mail.to(READER), message="no back-in-stock mail arrived")
    await asyncio.sleep(QUIET)
    assert len(mail.to(READER)) == 1
    for alerts in others:
        await alerts.close()
        await alerts.mailer.close()


@pytest.mark.gen_test
async def test_a_title_back_while_no_process_listened_is_mailed_at_the_next_catch_up(services, mail):
    await sold_out(services)
    await services.restock_alerts.ask(PCI, READER, ADDRESS)
    await services.db.books.update_one({"isbn": PCI}, {"$set": {"stock": 2, "available": 2}})  # no event
    await services.housekeeping(1200, 600)
    await until(lambda: mail.to(READER), message="no back-in-stock mail arrived")


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b"])
@pytest.mark.gen_test
async def test_a_bad_email_is_refused_and_nothing_is_stored(client, services, email):
    await sold_out(services)
    before = await store_snapshot(services)
    response = await client.post(f"/books/{PCI}/notify", {"email": email})
    assert response.code == 400
    assert "Give a valid email address." in text_of(response.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_title_on_sale_needs_no_alert(client, services):
    page = await client.get(f"/books/{PCI}")
    assert "notify-form" not in page.text
    before = await store_snapshot(services)
    response = await client.post(f"/books/{PCI}/notify", {"email": READER})
    assert response.code == 409 and "It's on sale now" in text_of(response.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_asking_needs_the_xsrf_token_and_a_real_book(client, services):
    await sold_out(services)
    before = await store_snapshot(services)
    assert (await client.post(f"/books/{PCI}/notify", {"email": READER}, xsrf=False)).code == 403
    assert (await client.post("/books/9781234567897/notify", {"email": READER})).code == 404
    assert await store_snapshot(services) == before


@pytest.mark.settings(restock_alerts_per_address=2)
@pytest.mark.gen_test
async def test_alerts_are_limited_per_address(client, services):
    await sold_out(services)
    for n in range(2):
        assert (await client.post(f"/books/{PCI}/notify", {"email": f"r{n}@example.com"})).code == 200
    response = await client.post(f"/books/{PCI}/notify", {"email": "r3@example.com"})
    assert response.code == 429 and response.headers["Retry-After"]
    assert await services.db.restock_alerts.count_documents({}) == 2


@pytest.mark.gen_test
async def test_a_withdrawn_title_back_in_stock_waits_to_be_restored_before_the_mail(staff, services, mail):
    await set_stock(services, 1)
    holder = staff.another()
    assert (await holder.cart_json("add")).code == 200
    waiting = staff.another()
    assert (await waiting.post(f"/books/{PCI}/notify", {"email": READER})).code == 200
    await withdraw(staff)

    assert (await holder.cart_json("remove")).code == 200  # its copy is on hand again, but not on sale
    await services.housekeeping(1200, 600)  # nor does the catch-up take it for on sale
    await asyncio.sleep(QUIET)
    assert mail.to(READER) == []
    add = await waiting.post("/cart", {"action": "add", "isbn": PCI}, headers=JSON)
    assert add.code == 409 and add.json()["error"]["message"] == "Sorry, this book is no longer available."

    await withdraw(staff, withdraw=False)
    await until(lambda: mail.to(READER), message="no back-in-stock mail when the title was restored")
    assert (await waiting.cart_json("add")).code == 200  # the mail's promise holds
    await asyncio.sleep(QUIET)
    assert len(mail.to(READER)) == 1


@pytest.mark.parametrize("copies", [0, 3])
@pytest.mark.gen_test
async def test_a_withdrawn_title_takes_no_alert(staff, services, copies):
    await set_stock(services, copies)
    await withdraw(staff)
    before = await store_snapshot(services)
    response = await staff.another().post(f"/books/{PCI}/notify", {"email": READER})
    assert response.code == 409
    text = text_of(response.text)
    assert "Sorry, this book is no longer available: there is no restock to tell you about." in text
    assert "It's on sale now" not in text
    assert await store_snapshot(services) == before
