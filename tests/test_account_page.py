"""The account page: who you are, your orders and tokens, changing your password."""

import pytest

from burts_books.web.account import PASSWORD_CHANGED
from tests.constants import PASSWORD, SHOPPER_EMAIL, STAFF_EMAIL
from tests.shop_client import field_errors, signed_in_as, text_of
from tests.store import store_snapshot

NEW_PASSWORD = "a brand new passphrase"


@pytest.mark.gen_test
async def test_visitors_are_sent_to_sign_in_first(client):
    answer = await client.get("/account")
    assert answer.code == 302 and answer.location == "/login?next=%2Faccount"


@pytest.mark.gen_test
async def test_the_page_shows_the_email_and_links_to_orders(shopper):
    page = await shopper.get("/account")
    assert page.code == 200
    text = text_of(page.text)
    assert f"Email {SHOPPER_EMAIL}" in text
    assert 'href="/orders"' in page.text
    assert 'href="/account/tokens"' not in page.text  # API tokens are for staff
    assert "Sign-in providers" not in text  # none configured
    assert 'href="/account"' in (await shopper.get("/")).text  # the header links to it


@pytest.mark.gen_test
async def test_staff_find_their_api_tokens_there(staff):
    page = await staff.get("/account")
    assert f"Email {STAFF_EMAIL}" in text_of(page.text)
    assert 'href="/account/tokens"' in page.text


@pytest.mark.gen_test
async def test_changing_the_password_ends_every_other_session(shopper, services):
    elsewhere = shopper.another()
    await elsewhere.login(SHOPPER_EMAIL)
    answer = await shopper.post("/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD})
    assert (answer.code, answer.location) == (303, "/account?password=changed")
    assert PASSWORD_CHANGED in text_of((await shopper.get(answer.location)).text)
    assert await signed_in_as(shopper) == SHOPPER_EMAIL
    assert await signed_in_as(elsewhere) is None
    assert await services.accounts.authenticate(SHOPPER_EMAIL, NEW_PASSWORD) is not None
    assert await services.accounts.authenticate(SHOPPER_EMAIL, PASSWORD) is None


@pytest.mark.gen_test
@pytest.mark.parametrize("current, new, errors", [
    ("not my password", NEW_PASSWORD, {"current_password": "That is not your current password."}),
    (PASSWORD, "short", {"password": "Use at least 8 characters."}),
])
async def test_a_wrong_current_password_or_a_bad_new_one_changes_nothing(shopper, services, current, new, errors):
    elsewhere = shopper.another()
    await elsewhere.login(SHOPPER_EMAIL)
    before = await store_snapshot(services)
    answer = await shopper.post("/account/password", {"current_password": current, "password": new})
    assert answer.code == 400
    assert field_errors(answer.text) == errors
    assert "Your password was not changed." in text_of(answer.text)
    assert await store_snapshot(services) == before
    assert await signed_in_as(elsewhere) == SHOPPER_EMAIL


@pytest.mark.gen_test
async def test_changing_the_password_needs_the_xsrf_token(shopper, services):
    before = await store_snapshot(services)
    answer = await shopper.post("/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD},
                                xsrf=False)
    assert answer.code == 403
    assert await store_snapshot(services) == before
