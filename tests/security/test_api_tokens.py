"""API tokens: staff make and revoke them on /account/tokens; a program sending one acts as its owner, without XSRF."""

import hashlib
import re

import pytest

from burts_books.api_tokens import MAX_TOKENS
from burts_books.app import routes
from burts_books.web.base import BaseHandler, allowed_methods
from tests.constants import PASSWORD, PCI, STAFF_EMAIL
from tests.shop_client import field_errors, form_values, text_of
from tests.store import stock_of, store_snapshot

RESTOCK = f"/api/books/{PCI}/restock"
WRONG_TOKEN = "bbk_" + "A" * 43  # the shape of a token, but no token's


def token_rows(html):
    """{name: (shown prefix, last used)} of the tokens table."""
    cells = r"<tr>\s*<td>(.*?)</td>\s*<td><code>(.*?)…</code></td>\s*<td>.*?</td>\s*<td>(.*?)</td>"
    rows = re.findall(cells, html, re.S)
    return {name: (prefix, last_used) for name, prefix, last_used in rows}


def revoke_action(html, name):
    """Where the Revoke button of the token named `name` posts."""
    return re.search(rf'<td>{re.escape(name)}</td>.*?<form method="post" action="([^"]+)"', html, re.S).group(1)


async def restock(client, copies=3, **kwargs):
    return await client.post_json(RESTOCK, {"copies": copies}, **kwargs)


@pytest.mark.gen_test
async def test_a_token_is_shown_once_and_stored_only_as_its_digest(staff, services):
    page = await staff.get("/account/tokens")
    assert page.code == 200 and 'href="/account/tokens"' in page.text
    assert form_values(page.text, "/account/tokens") == {"name": ""}

    token = await staff.create_token("nightly restock")
    assert re.fullmatch(r"bbk_[\w-]{43}", token)
    page = await staff.get("/account/tokens")
    assert token not in page.text
    assert token_rows(page.text) == {"nightly restock": (token[:8], "never")}

    (stored,) = await services.db.api_tokens.find().to_list(None)
    assert token not in repr(stored)
    assert stored["hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert stored["name"] == "nightly restock"


@pytest.mark.gen_test
async def test_a_program_with_a_token_restocks_without_xsrf(staff, services):
    program = staff.program(await staff.create_token())
    response = await restock(program, 3, xsrf=False)
    assert response.code == 200, response.text
    assert response.json() == {"book": {"isbn": PCI, "available": 15, "version": 2}}
    assert (await stock_of(services))["stock"] == 15
    assert token_rows((await staff.get("/account/tokens")).text)["restock script"][1] != "never"


@pytest.mark.gen_test
async def test_a_revoked_token_is_refused_and_changes_nothing(staff, services):
    token = await staff.create_token("old script")
    await staff.create_token("new script")
    page = await staff.get("/account/tokens")
    response = await staff.post(revoke_action(page.text, "old script"))
    assert (response.code, response.location) == (303, "/account/tokens")
    assert list(token_rows((await staff.get("/account/tokens")).text)) == ["new script"]

    before = await store_snapshot(services)
    response = await restock(staff.program(token), xsrf=False)
    assert response.code == 401
    assert response.json() == {"error": {"status": 401, "message": "This API token is wrong or has been revoked."}}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="Burt\'s Books" error="invalid_token"'
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_revoking_needs_the_xsrf_token_and_your_own_token(staff, services):
    token = await staff.create_token()
    action = revoke_action((await staff.get("/account/tokens")).text, "restock script")
    assert (await staff.post(action, xsrf=False)).code == 403

    await services.accounts.register("mary@burtsbooks.com", PASSWORD, staff=True)
    colleague = staff.another()
    await colleague.login("mary@burtsbooks.com")
    assert (await colleague.post(action)).code == 404
    assert (await restock(staff.program(token), xsrf=False)).code == 200


@pytest.mark.gen_test
async def test_a_cookie_session_still_needs_the_xsrf_token(staff, services):
    before = await store_snapshot(services)
    response = await restock(staff, xsrf=False)
    assert response.code == 403
    # Other kinds of Authorization header are no bearer token: no exemption either.
    response = await staff.fetch(RESTOCK, "POST", '{"copies": 3}', headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert response.code == 403
    assert await store_snapshot(services) == before


@pytest.mark.parametrize("header", [f"Bearer {WRONG_TOKEN}", "Bearer", "Bearer ", "bearer nonsense",
                                    "Bearer " + "x" * 5000])
@pytest.mark.gen_test
async def test_a_wrong_token_is_refused_even_with_a_staff_session(staff, services, header):
    """The request skipped the XSRF check, so it must not fall back to the session cookie it also carries."""
    before = await store_snapshot(services)
    response = await staff.fetch(RESTOCK, "POST", '{"copies": 3}', headers={"Authorization": header})
    assert response.code == 401 and response.json()["error"]["status"] == 401
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_staff_members_tokens_end_with_the_role_even_when_it_is_given_back(staff, services):
    used, unused = [staff.program(await staff.create_token(name)) for name in ("nightly", "spare")]
    assert (await restock(used, xsrf=False)).code == 200
    await services.accounts.set_staff(STAFF_EMAIL, False)  # someone leaving
    stock = await stock_of(services)
    assert (await restock(used, xsrf=False)).code == 401
    assert (await used.post_json("/cart", {"action": "add", "isbn": PCI}, xsrf=False)).code == 401
    assert await stock_of(services) == stock

    await services.accounts.set_staff(STAFF_EMAIL, True)  # and back, months later
    for program in (used, unused):
        assert (await restock(program, xsrf=False)).code == 401
    assert token_rows((await staff.get("/account/tokens")).text) == {}
    assert (await restock(staff.program(await staff.create_token("new")), xsrf=False)).code == 200


@pytest.mark.gen_test
async def test_a_token_opens_none_of_the_pages_a_person_manages_their_account_on(staff, services):
    owner = await services.accounts.by_email(STAFF_EMAIL)
    assert owner.get("owner")  # the first staff account: it may grant roles
    reader = await services.accounts.register("reader@example.com", PASSWORD)
    token = await staff.create_token()
    program = staff.program(token)
    [made] = await services.db.api_tokens.find().to_list(None)
    before = await services.db.users.find({}, {"last_sign_in_at": 0}).sort("_id").to_list(None)
    for path, form in (("/account/tokens", {"name": "backdoor"}),
                       (f"/account/tokens/{made['_id']}/revoke", {}),
                       ("/account/password", {"current_password": PASSWORD, "new_password": "x" * 20}),
                       (f"/staff/users/{reader['_id']}/role", {"staff": "1"}),
                       ("/logout", {})):
        response = await program.post(path, form, xsrf=False)
        assert response.code == 403, path
        assert "An API token is for the JSON API" in response.json()["error"]["message"]
    assert (await program.get("/account/tokens")).code == 403
    assert [document["_id"] for document in await services.db.api_tokens.find().to_list(None)] == [made["_id"]]
    assert await services.db.users.find({}, {"last_sign_in_at": 0}).sort("_id").to_list(None) == before
    assert (await restock(program, xsrf=False)).code == 200  # the API, as ever


@pytest.mark.gen_test
async def test_the_tokens_page_is_for_staff(shopper):
    assert (await shopper.get("/account/tokens")).code == 403
    assert (await shopper.post("/account/tokens", {"name": "mine"})).code == 403
    assert "API tokens" not in (await shopper.get("/")).text
    visitor = shopper.another()
    response = await visitor.get("/account/tokens")
    assert (response.code, response.location) == (302, "/login?next=%2Faccount%2Ftokens")


@pytest.mark.parametrize("name, message", [
    ("", "Name the token after the program that will use it."),
    ("   ", "Name the token after the program that will use it."),
    ("x" * 101, "Use at most 100 characters."),
])
@pytest.mark.gen_test
async def test_a_token_needs_a_name(staff, services, name, message):
    before = await store_snapshot(services)
    page = await staff.post("/account/tokens", {"name": name})
    assert page.code == 400
    assert field_errors(page.text) == {"name": message}
    assert "no token was made" in text_of(page.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_person_has_at_most_twenty_tokens(staff, services):
    for number in range(MAX_TOKENS):
        await staff.create_token(f"script {number}")
    page = await staff.post("/account/tokens", {"name": "one too many"})
    assert page.code == 400
    assert field_errors(page.text) == {"name": "You have 20 tokens already: revoke one you no longer use."}
    assert await services.db.api_tokens.count_documents({}) == MAX_TOKENS


def answered_methods():
    """(path with sample arguments, method) of every method of every handler that checks who is asking."""
    samples = {r"([0-9Xx-]{10,17})": PCI, r"([0-9a-f]{24})": "0" * 24, r"([\w-]{16})": "a" * 16}
    for spec in routes():
        if issubclass(spec.handler_class, BaseHandler):
            path = spec.regex.pattern.rstrip("$")
            for pattern, sample in samples.items():
                path = path.replace(pattern, sample)
            for method in allowed_methods(spec.handler_class):
                yield path.replace("\\", ""), method


@pytest.mark.parametrize("path, method", list(answered_methods()))
@pytest.mark.gen_test
async def test_every_handler_refuses_a_wrong_token(staff, services, path, method):
    before = await store_snapshot(services)
    body = "{}" if method == "POST" else None
    response = await staff.fetch(path, method, body, headers={"Authorization": f"Bearer {WRONG_TOKEN}"})
    assert response.code == 401, response.text
    if method != "HEAD":  # a HEAD answer has headers only
        assert response.json()["error"]["status"] == 401
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_token_of_an_account_that_is_gone_is_refused(staff, services):
    program = staff.program(await staff.create_token())
    await services.db.users.delete_one({"email": STAFF_EMAIL})
    assert (await restock(program, xsrf=False)).code == 401

