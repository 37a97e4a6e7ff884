"""A shopper continues with Google (a fake provider on loopback) and lands on the shop signed in;
links Google from the account page; resets a forgotten password from the mail it receives."""

import re
import time

import pytest
from playwright.sync_api import Page, expect

from burts_books.web.account import PASSWORD_SET
from tests.browser.conftest import seeded_shop
from tests.browser.helpers import sign_in
from tests.constants import STAFF_EMAIL
from tests.fake_provider import FakeProvider, Person
from tests.mail_server import MailCatcher, links_in
from tests.shop_process import free_port

NEW_PASSWORD = "a brand new passphrase"
MAIL_TIMEOUT = 10.0


@pytest.fixture
def fake_provider():
    fake = FakeProvider()
    stopping = fake.serve_in_thread()
    yield fake
    stopping.set()


@pytest.fixture
def mail_server():
    with MailCatcher() as server:
        yield server


@pytest.fixture
def shop(seeded_data_dir, tmp_path, fake_provider, mail_server):
    """The shop registered with the fake Google, mailing through the test SMTP server, at a public URL."""
    port = free_port()
    shop = seeded_shop(seeded_data_dir, tmp_path, *fake_provider.flags(["google"]), f"--smtp-url={mail_server.url}",
                       f"--public-url=http://127.0.0.1:{port}", port=port)
    yield shop
    shop.stop()


def mail_to(mail_server: MailCatcher, address: str):
    deadline = time.monotonic() + MAIL_TIMEOUT
    while not mail_server.to(address):
        assert time.monotonic() < deadline, f"no mail arrived for {address}"
        time.sleep(0.05)
    return mail_server.to(address)[0]


def test_continue_with_google_ends_on_the_shop_signed_in(page: Page):
    page.goto("/books/")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("link", name="Continue with Google").click()

    expect(page).to_have_url(re.compile(r"/books/$"))
    expect(page.locator("#header .who")).to_have_text("ada@example.com")
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("Google: linked as Ada Reader")).to_be_visible()


def test_a_signed_in_shopper_links_google_from_the_account_page(page: Page, fake_provider):
    fake_provider.people["google"] = Person("g-burt", "Burt", "burt-at-google@example.com")
    page.goto("/")
    sign_in(page)
    page.get_by_role("link", name="Account").click()
    page.get_by_role("button", name="Link Google").click()  # a form, then the provider, then back

    expect(page.get_by_role("status")).to_have_text("Google is linked: you can sign in with it from now on.")
    expect(page.get_by_text("Google: linked as Burt")).to_be_visible()


def test_a_forgotten_password_is_reset_from_the_mail(page: Page, mail_server):
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(STAFF_EMAIL)
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("a link to choose a new password is on its way")

    [link] = links_in(mail_to(mail_server, STAFF_EMAIL))
    page.goto(link)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_have_text(PASSWORD_SET)
    expect(page.locator("#header .who")).to_have_text(f"{STAFF_EMAIL} (staff)")

    page.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(page, STAFF_EMAIL, NEW_PASSWORD)
