"""Accounts: register, sign in and out, the session cookie, XSRF and `next` redirects."""

import base64
import dataclasses
import urllib.parse

import pytest
import tornado.web

from burts_books.web.auth import REGISTERED, WRONG_PASSWORD
from burts_books.web.base import XSRF_MESSAGE
from tests.constants import COOKIE_SECRET, JSON, PASSWORD, PCI, SHOPPER_EMAIL, STAFF_EMAIL, UNKNOWN_ISBN
from tests.shop_client import ShopClient, field_errors, forms, signed_in_as, text_of
from tests.store import store_snapshot

RETIRED_SECRET = "retired-cookie-secret-" + "r" * 32


@pytest.fixture
def settings(settings):
    """A shop in the middle of rotating its cookie secret."""
    return dataclasses.replace(settings, previous_cookie_secrets=(RETIRED_SECRET,))


@pytest.fixture
def burt(make_user):
    """A staff account, not signed in."""
    return make_user(STAFF_EMAIL, staff=True)


def session_cookie_header(response):
    headers = [h for h in response.headers.get_list("Set-Cookie") if h.startswith("session=")]
    return headers[0] if headers else None


def account_form(page):
    """The sign-in or registration form: the one that asks for a password."""
    [form] = [form for form in forms(page) if "password" in form.values]
    return form


async def user_emails(services):
    return sorted(await services.db.users.distinct("email"))


def session_value(user, secret=COOKIE_SECRET):
    return tornado.web.create_signed_value(secret, "session", f"{user['_id']}:{user['session_version']}").decode()


# -- registering -----------------------------------------------------------------


@pytest.mark.gen_test
async def test_register_creates_a_shopper_who_then_signs_in(client, services):
    registered = await client.post("/register?next=/books/", {"email": " New@Example.com ", "password": "long enough"})
    assert registered.code == 200
    assert REGISTERED in text_of(registered.text)
    assert await signed_in_as(client) is None  # only the password's owner signs in, on the next step
    sign_in = account_form(registered.text)
    assert sign_in.values["email"] == "new@example.com"

    response = await client.post(sign_in.action, {**sign_in.values, "password": "long enough"})
    assert (response.code, response.location) == (302, "/books/")
    assert await signed_in_as(client) == "new@example.com"
    user = await services.db.users.find_one({"email": "new@example.com"})
    assert user["staff"] is False
    assert user["password_hash"].startswith("$argon2id$") and "long enough" not in user["password_hash"]


@pytest.mark.parametrize(
    "email, password, field, message",
    [
        ("not-an-email", "long enough", "email", "Give a valid email address."),
        ("new@example.com", "short", "password", "Use at least 8 characters."),
    ],
)
@pytest.mark.gen_test
async def test_bad_registrations_are_refused_with_a_message(client, reader, services, email, password, field, message):
    response = await client.post("/register", {"email": email, "password": password})
    assert response.code == 400
    assert field_errors(response.text) == {field: message}
    assert account_form(response.text).values["email"] == email
    assert session_cookie_header(response) is None
    assert await user_emails(services) == [SHOPPER_EMAIL]


# -- signing in ------------------------------------------------------------------


@pytest.mark.gen_test
async def test_sign_in_ignores_email_case(client, reader):
    await client.login("Reader@EXAMPLE.com")
    assert await signed_in_as(client) == SHOPPER_EMAIL


@pytest.mark.parametrize(
    "email, password",
    [(SHOPPER_EMAIL, "wrong password"), ("nobody@example.com", PASSWORD), (SHOPPER_EMAIL, "")],
)
@pytest.mark.gen_test
async def test_wrong_credentials_get_a_400_and_no_session(client, reader, email, password):
    response = await client.post("/login", {"email": email, "password": password})
    assert response.code == 400
    assert WRONG_PASSWORD in text_of(response.text)
    assert account_form(response.text).values["email"] == email
    assert session_cookie_header(response) is None
    assert await signed_in_as(client) is None


@pytest.mark.gen_test
async def test_sign_in_takes_you_back_where_you_were_going(client, burt):
    to_login = await client.get("/add")
    login_page = await client.get(to_login.location)
    response = await client.post(account_form(login_page.text).action, {"email": burt["email"], "password": PASSWORD})
    assert response.location == "/add"
    assert (await client.get("/add")).code == 200


@pytest.mark.parametrize(
    "next_url, destination",
    [
        ("/books/?q=tornado", "/books/?q=tornado"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
@pytest.mark.gen_test
async def test_next_only_redirects_within_the_site(client, reader, next_url, destination):
    response = await client.post(
        "/login?next=" + urllib.parse.quote(next_url, safe=""),
        {"email": SHOPPER_EMAIL, "password": PASSWORD},
    )
    assert (response.code, response.location) == (302, destination)


# -- the session cookie ----------------------------------------------------------


@pytest.mark.gen_test
async def test_session_cookie_is_signed_httponly_and_samesite(client, reader):
    header = session_cookie_header(await client.login(SHOPPER_EMAIL))
    attributes = [part.strip().lower() for part in header.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "secure" not in attributes  # plain http here; Secure is set under https
    signed = client.cookies["session"]
    assert tornado.web.decode_signed_value(COOKIE_SECRET, "session", signed) == f"{reader['_id']}:1".encode()


@pytest.mark.gen_test
async def test_behind_an_https_proxy_cookies_are_secure_and_hsts_is_sent(proxied_url, reader, http_client):
    # What nginx does in production: TLS ends at the proxy, which says so in X-Forwarded-Proto.
    browser = ShopClient(http_client, proxied_url)
    https = {"X-Forwarded-Proto": "https"}
    plain = await browser.get("/login")
    assert "Strict-Transport-Security" not in plain.headers
    first_visit = await browser.another().get("/login", headers=https)
    [xsrf] = [h for h in first_visit.headers.get_list("Set-Cookie") if h.startswith("_xsrf=")]
    assert "secure" in [part.strip().lower() for part in xsrf.split(";")]
    response = await browser.post("/login", {"email": reader["email"], "password": PASSWORD}, headers=https)
    assert response.code == 302
    attributes = [part.strip().lower() for part in session_cookie_header(response).split(";")]
    assert "secure" in attributes and "httponly" in attributes
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def flip_last_character(value, staff_user):
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def staff_id_under_the_shoppers_signature(value, staff_user):
    # Signed value fields: 2|1:0|10:<timestamp>|7:session|<length>:<base64 payload>|<signature>
    fields = value.split("|")
    payload = base64.b64encode(f"{staff_user['_id']}:{staff_user['session_version']}".encode()).decode()
    fields[4] = f"{len(payload)}:{payload}"
    return "|".join(fields)


def staff_id_signed_with_an_unknown_secret(value, staff_user):
    return session_value(staff_user, secret="attacker-secret-" + "a" * 32)


@pytest.mark.parametrize(
    "tamper", [flip_last_character, staff_id_under_the_shoppers_signature, staff_id_signed_with_an_unknown_secret]
)
@pytest.mark.gen_test
async def test_a_tampered_cookie_is_not_a_session(shopper, burt, tamper):
    assert await signed_in_as(shopper) == SHOPPER_EMAIL
    shopper.cookies["session"] = tamper(shopper.cookies["session"], burt)
    assert await signed_in_as(shopper) is None
    assert (await shopper.get("/add")).code == 302


@pytest.mark.gen_test
async def test_a_cookie_signed_with_a_previous_secret_still_opens_its_session(client, reader):
    client.cookies["session"] = session_value(reader, secret=RETIRED_SECRET)
    assert await signed_in_as(client) == SHOPPER_EMAIL


@pytest.mark.gen_test
async def test_sign_out_ends_the_session_everywhere_the_cookie_was_copied(shopper):
    copied = shopper.cookies["session"]
    assert await signed_in_as(shopper) == SHOPPER_EMAIL
    response = await shopper.post("/logout")
    assert (response.code, response.location) == (302, "/")
    assert "session" not in shopper.cookies
    shopper.cookies["session"] = copied  # replayed by whoever kept a copy
    assert await signed_in_as(shopper) is None
    assert (await shopper.get("/orders")).location.startswith("/login")


# -- XSRF ------------------------------------------------------------------------

FORGED_BOOK = {"title": "Forged", "author": "Mallory", "price": "1", "stock": "1"}
XSRF_FORMS = {
    "/add": {"isbn": UNKNOWN_ISBN, **FORGED_BOOK},
    f"/edit/{PCI}": {"isbn": PCI, **FORGED_BOOK},
    f"/edit/{PCI}/restock": {"copies": "5"},
    f"/api/books/{PCI}/restock": {"copies": "5"},
    "/cart": {"action": "add", "isbn": PCI},
    "/checkout": {"name": "Mallory", "email": "mallory@example.com", "revision": "1"},
    f"/books/{PCI}/notify": {"email": "mallory@example.com"},
    "/login": {"email": SHOPPER_EMAIL, "password": PASSWORD},
    "/register": {"email": "mallory@example.com", "password": "long enough"},
    "/logout": {},
}


async def what_the_browser_shows(browser):
    """Who it is signed in as, and its cart."""
    return await signed_in_as(browser), (await browser.get("/cart", headers=JSON)).json()


@pytest.mark.parametrize("token", [None, "2|00000000|00000000000000000000000000000000|1700000000"])
@pytest.mark.parametrize("path", list(XSRF_FORMS))
@pytest.mark.gen_test
async def test_a_post_without_the_xsrf_token_is_refused_and_changes_nothing(staff, reader, services, path, token):
    assert (await staff.post("/cart", {"action": "add", "isbn": PCI})).code == 303  # something to check out
    before = await store_snapshot(services), await what_the_browser_shows(staff)
    form = dict(XSRF_FORMS[path], **({"_xsrf": token} if token else {}))

    response = await staff.post(path, form, xsrf=False)

    assert response.code == 403
    assert XSRF_MESSAGE in text_of(response.text)
    assert (await store_snapshot(services), await what_the_browser_shows(staff)) == before
