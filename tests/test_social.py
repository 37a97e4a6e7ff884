"""Social sign-in through the real handlers, against a fake provider for Google, Facebook, X and GitHub:
new accounts, returning people, linking and unlinking, and everything that can go wrong on the way."""

import datetime
import re
import urllib.parse

import pytest

from burts_books.web.account import ACCOUNT_PROBLEMS
from burts_books.web.auth import PROBLEMS
from tests.constants import PASSWORD, SHOPPER_EMAIL
from tests.fake_provider import PROVIDERS, FakeProvider, Person
from tests.shop_client import Response, ShopClient, signed_in_as, text_of
from tests.store import shop_settings, store_snapshot

TITLES = {"google": "Google", "facebook": "Facebook", "x": "X", "github": "GitHub"}


@pytest.fixture
def fake(io_loop):
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def providers():
    """The providers the shop is registered with (a test may parametrize fewer)."""
    return PROVIDERS


@pytest.fixture
def settings(tmp_path, fake, providers, request):
    marked = request.node.get_closest_marker("settings")
    return shop_settings(tmp_path, **fake.settings(providers), **(marked.kwargs if marked else {}))


async def at_provider(client: ShopClient, location: str) -> str:
    """Follow the shop's redirect to the provider; the address the provider sends the browser back to."""
    answer = await client.http.fetch(location, follow_redirects=False, raise_error=False)
    assert answer.code == 302, answer.body
    return answer.headers["Location"]


def path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


async def continue_with(client: ShopClient, provider: str, next_url: str = "/books/") -> Response:
    """Click "Continue with …", approve at the provider, and come back: the shop's last answer."""
    start = await client.get(f"/auth/{provider}?" + urllib.parse.urlencode({"next": next_url}))
    assert start.code == 302, start.text
    return await client.get(path_of(await at_provider(client, start.location)))


async def identities(services) -> list[dict]:
    return await services.db.identities.find().sort("_id").to_list(None)


def problem_shown(response_page: str, problem: str, provider: str) -> bool:
    return PROBLEMS[problem].format(title=TITLES[provider]) in text_of(response_page)


@pytest.mark.gen_test
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_first_sign_in_makes_an_account_and_lands_signed_in_where_the_visitor_was(client, services, fake,
                                                                                        provider):
    answer = await continue_with(client, provider, next_url="/books/?page=2")

    assert (answer.code, answer.location) == (302, "/books/?page=2")
    [user] = await services.db.users.find().to_list(None)
    assert user["name"] == "Ada Reader"
    # Only Google and GitHub say they verified the email; Facebook's and X's accounts get none.
    verified = provider in ("google", "github")
    assert user.get("email") == ("ada@example.com" if verified else None)
    assert await signed_in_as(client) == ("ada@example.com" if verified else "Ada Reader")
    [identity] = await identities(services)
    assert identity["user_id"] == user["_id"]
    assert (identity["provider"], identity["provider_id"], identity["name"]) == (
        provider, fake.people[provider].id, "Ada Reader")
    assert identity["email_verified"] is verified
    # Every token request showed the PKCE verifier of its challenge (the fake refuses any other).
    [request] = fake.token_requests
    assert request["code_verifier"] and fake.verifier_refusals == 0
    # The provider's access token is neither kept in the store nor sent to the browser.
    [token] = fake.tokens
    attempts = await services.db.sign_in_attempts.find().to_list(None)
    assert token not in repr(await store_snapshot(services)) + repr(attempts)
    assert token not in repr(client.cookies)


@pytest.mark.gen_test
async def test_a_returning_person_gets_the_same_account(client, services, fake):
    await continue_with(client, "google")
    fake.people["google"].name = "Ada R. Lovelace"
    other_browser = client.another()
    answer = await continue_with(other_browser, "google")
    assert answer.code == 302
    assert await services.db.users.count_documents({}) == 1
    assert await signed_in_as(other_browser) == "ada@example.com"
    [identity] = await identities(services)
    assert identity["name"] == "Ada R. Lovelace"  # what the provider says now


@pytest.mark.gen_test
@pytest.mark.parametrize("providers", [("google",)])
async def test_an_unconfigured_provider_has_no_button_and_its_pages_are_not_found(client, providers):
    for page in ("/login", "/register"):
        text = text_of((await client.get(page)).text)
        assert "Continue with Google" in text
        assert not {"Continue with Facebook", "Continue with X", "Continue with GitHub"} & set(re.findall(
            r"Continue with \w+", text))
    assert (await client.get("/auth/github")).code == 404
    assert (await client.get("/auth/x?code=abc&state=def")).code == 404
    assert (await client.post("/auth/facebook")).code == 404


@pytest.mark.gen_test
async def test_next_stays_on_the_site(client, fake):
    answer = await continue_with(client, "github", next_url="//evil.example/phish")
    assert answer.location == "/"


@pytest.mark.gen_test
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_cancelling_at_the_provider_brings_the_visitor_back_to_sign_in_and_changes_nothing(
        client, services, fake, provider):
    fake.cancel = True
    before = await store_snapshot(services)
    answer = await continue_with(client, provider, next_url="/cart")
    assert answer.code == 302 and answer.location.startswith("/login?")
    page = await client.get(answer.location)
    assert problem_shown(page.text, "cancelled", provider)
    assert "next=%2Fcart" in page.text  # signing in another way still leads back
    assert await store_snapshot(services) == before
    assert await signed_in_as(client) is None


@pytest.mark.gen_test
@pytest.mark.parametrize("switch", ["authorize_error", "token_fails", "userinfo_fails"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_provider_error_brings_the_visitor_back_with_a_message_and_changes_nothing(
        client, services, fake, provider, switch):
    setattr(fake, switch, "server_error" if switch == "authorize_error" else True)
    before = await store_snapshot(services)
    answer = await continue_with(client, provider)
    page = await client.get(answer.location)
    assert page.code == 200
    assert problem_shown(page.text, "failed", provider)
    assert await store_snapshot(services) == before
    assert await signed_in_as(client) is None


@pytest.mark.gen_test
async def test_a_wrong_pkce_verifier_is_refused_by_the_provider_and_signs_nobody_in(client, services, fake):
    start = await client.get("/auth/x")
    # The verifier the shop keeps for this attempt is not the one its challenge was made from.
    await services.db.sign_in_attempts.update_many({}, {"$set": {"verifier": "x" * 64}})
    answer = await client.get(path_of(await at_provider(client, start.location)))
    assert fake.verifier_refusals == 1
    assert problem_shown((await client.get(answer.location)).text, "failed", "x")
    assert await services.db.users.count_documents({}) == 0


@pytest.mark.gen_test
async def test_a_replayed_callback_is_refused(client, services, fake):
    start = await client.get("/auth/google")
    back = path_of(await at_provider(client, start.location))
    cookies = dict(client.cookies)
    assert (await client.get(back)).code == 302
    await client.post("/logout")
    before = await store_snapshot(services)
    client.cookies = cookies  # the same browser state and callback again, attempt cookie included
    again = await client.get(back)
    assert again.location.startswith("/login?")
    assert problem_shown((await client.get(again.location)).text, "expired", "google")
    assert await store_snapshot(services) == before
    assert await signed_in_as(client) is None


@pytest.mark.gen_test
@pytest.mark.parametrize("tamper", ["wrong state", "no state", "another browser", "forged"])
async def test_a_callback_without_this_browsers_state_is_refused(client, services, fake, tamper):
    start = await client.get("/auth/github")
    back = urllib.parse.urlsplit(await at_provider(client, start.location))
    query = dict(urllib.parse.parse_qsl(back.query))
    browser = client
    if tamper == "wrong state":
        query["state"] = "a" * 43
    elif tamper == "no state":
        del query["state"]
    elif tamper == "another browser":
        browser = client.another()  # an attacker handing their callback to a victim (login CSRF)
    else:
        query = {"code": "made-up", "state": query["state"] + "x"}
    before = await store_snapshot(services)
    answer = await browser.get(back.path + "?" + urllib.parse.urlencode(query))
    assert answer.location.startswith("/login?")
    assert problem_shown((await browser.get(answer.location)).text, "expired", "github")
    assert await store_snapshot(services) == before
    assert fake.token_requests == []  # the code was never even tried
    assert await signed_in_as(browser) is None


@pytest.mark.gen_test
async def test_a_verified_email_with_an_account_is_linked_only_once_its_owner_signs_in(client, services, fake,
                                                                                      reader):
    fake.people["google"] = Person("g-7", "Reader", SHOPPER_EMAIL, verified=True)
    before = await store_snapshot(services)

    answer = await continue_with(client, "google", next_url="/orders")
    assert answer.location == "/login?next=%2Forders"
    assert await store_snapshot(services) == before  # nothing taken over, nothing made
    assert await signed_in_as(client) is None
    page = text_of((await client.get(answer.location)).text)
    assert f"Google says you are {SHOPPER_EMAIL}, and Burt's Books already has an account with that email" in page

    signed_in = await client.post("/login?next=%2Forders", {"email": SHOPPER_EMAIL, "password": PASSWORD})
    assert signed_in.location == "/orders"
    [identity] = await identities(services)
    assert (identity["_id"], identity["user_id"]) == ("google:g-7", reader["_id"])
    # From now on Google opens that account.
    later = client.another()
    await continue_with(later, "google")
    assert await signed_in_as(later) == SHOPPER_EMAIL
    assert await services.db.users.count_documents({}) == 1


@pytest.mark.gen_test
async def test_an_unverified_email_never_matches_an_account(client, services, fake, reader):
    fake.people["google"] = Person("g-8", "Mallory", SHOPPER_EMAIL, verified=False)
    await continue_with(client, "google")
    assert await signed_in_as(client) == "Mallory"  # a new account of its own, without the email
    assert await services.db.users.count_documents({"email": SHOPPER_EMAIL}) == 1


@pytest.mark.gen_test
async def test_a_signed_in_shopper_links_a_provider_from_the_account_page(shopper, services, fake):
    fake.people["github"] = Person("909", "Reader on GitHub", "someone-else@example.com")
    start = await shopper.post("/auth/github")
    assert start.code == 303
    back = await shopper.get(path_of(await at_provider(shopper, start.location)))
    assert back.location == "/account?linked=github"
    page = text_of((await shopper.get(back.location)).text)
    assert "GitHub is linked: you can sign in with it from now on." in page
    assert "GitHub: linked as Reader on GitHub" in page

    elsewhere = shopper.another()
    await continue_with(elsewhere, "github")
    assert await signed_in_as(elsewhere) == SHOPPER_EMAIL


@pytest.mark.gen_test
async def test_an_identity_linked_to_another_account_is_not_moved(shopper, services, fake):
    await continue_with(shopper.another(), "x")  # someone else's account opens with this X identity
    before = await store_snapshot(services)
    start = await shopper.post("/auth/x")
    back = await shopper.get(path_of(await at_provider(shopper, start.location)))
    page = text_of((await shopper.get(back.location)).text)
    assert "That X account is linked to another Burt's Books account" in page
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_linking_needs_a_signed_in_shopper(client, fake):
    answer = await client.post("/auth/google")
    assert answer.code == 303 and answer.location.startswith("/login?")


@pytest.mark.gen_test
async def test_unlinking_never_removes_the_last_way_in(client, services, fake):
    await continue_with(client, "google")
    before = await store_snapshot(services)
    refused = await client.post("/account/unlink/google")
    assert refused.code == 409
    assert "This is your only way to sign in" in text_of(refused.text)
    assert await store_snapshot(services) == before

    # With GitHub linked too, Google can go; then GitHub is the last way in.
    start = await client.post("/auth/github")
    await client.get(path_of(await at_provider(client, start.location)))
    assert (await client.post("/account/unlink/google")).location == "/account?unlinked=google"
    assert [identity["provider"] for identity in await identities(services)] == ["github"]
    assert (await client.post("/account/unlink/github")).code == 409
    assert await signed_in_as(client) == "ada@example.com"


@pytest.mark.gen_test
async def test_a_password_account_can_unlink_its_only_provider(shopper, services, fake):
    start = await shopper.post("/auth/facebook")
    await shopper.get(path_of(await at_provider(shopper, start.location)))
    assert len(await identities(services)) == 1
    answer = await shopper.post("/account/unlink/facebook")
    assert answer.location == "/account?unlinked=facebook"
    assert await identities(services) == []
    assert "Facebook: not linked" in text_of((await shopper.get("/account")).text)
    assert (await shopper.post("/account/unlink/facebook")).code == 404


@pytest.mark.gen_test
async def test_signing_out_everywhere_ends_a_social_session_in_every_browser(client, fake):
    await continue_with(client, "google")
    copy = client.another()
    copy.cookies = dict(client.cookies)
    assert await signed_in_as(copy) == "ada@example.com"
    page = (await client.get("/account")).text
    assert re.search(r'<form method="post" action="/logout">', page)
    await client.post("/logout")
    assert await signed_in_as(copy) is None


@pytest.mark.gen_test
async def test_many_accounts_can_have_no_email(client, services, fake):
    await continue_with(client, "x")
    fake.people["x"] = Person("x-43", "Grace Hopper")
    other = client.another()
    await continue_with(other, "x")
    assert await signed_in_as(other) == "Grace Hopper"
    assert await services.db.users.count_documents({"email": {"$exists": False}}) == 2


@pytest.mark.gen_test
async def test_a_shopper_signed_in_to_the_account_of_that_email_gets_the_provider_linked(shopper, services, fake):
    fake.people["google"] = Person("g-11", "Reader", SHOPPER_EMAIL)
    answer = await continue_with(shopper, "google", next_url="/cart")
    assert answer.location == "/cart"
    [identity] = await identities(services)
    assert identity["_id"] == "google:g-11"
    assert await services.db.users.count_documents({}) == 1


@pytest.mark.gen_test
@pytest.mark.settings(social_sign_ins_per_address=2)
async def test_starting_sign_ins_is_limited_per_address(proxied_url, http_client, services, fake):
    client = ShopClient(http_client, proxied_url, address="192.0.2.7")
    assert [(await client.get("/auth/google")).code for _ in range(3)] == [302, 302, 429]
    assert await services.db.sign_in_attempts.count_documents({}) == 2
    assert (await client.another("192.0.2.8").get("/auth/google")).code == 302


@pytest.mark.gen_test
async def test_abandoned_attempts_are_forgotten_by_housekeeping(client, services, fake):
    await client.get("/auth/google")
    [attempt] = await services.db.sign_in_attempts.find().to_list(None)
    await services.housekeeping(cart_ttl_seconds=60)
    assert await services.db.sign_in_attempts.count_documents({}) == 1  # still in its ten minutes
    await services.db.sign_in_attempts.update_one(
        {"_id": attempt["_id"]}, {"$set": {"expires_at": attempt["expires_at"] - datetime.timedelta(minutes=11)}}
    )
    await services.housekeeping(cart_ttl_seconds=60)
    assert await services.db.sign_in_attempts.count_documents({}) == 0


@pytest.mark.gen_test
async def test_a_profile_whose_name_is_not_text_is_a_failed_sign_in(client, services, fake):
    fake.people["google"] = Person("g-1", 12345, "n@example.com")  # a provider's JSON with a number for a name
    before = await store_snapshot(services)
    answer = await continue_with(client, "google")
    assert problem_shown((await client.get(answer.location)).text, "failed", "google")
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_shopper_whose_account_has_another_google_account_is_told_so_not_sent_to_sign_in(
        shopper, services, fake):
    fake.people["google"] = Person("g-work", "Reader at work", "reader@work.example")
    start = await shopper.post("/auth/google")
    assert (await shopper.get(path_of(await at_provider(shopper, start.location)))).location == "/account?linked=google"
    fake.people["google"] = Person("g-home", "Reader", SHOPPER_EMAIL)  # the account's own email, vouched for

    answer = await continue_with(shopper, "google", next_url="/cart")

    assert answer.location == "/account?problem=taken&provider=google"
    assert ACCOUNT_PROBLEMS["taken"].format(title="Google") in text_of((await shopper.get(answer.location)).text)
    assert [identity["_id"] for identity in await identities(services)] == ["google:g-work"]


async def reset_password(client: ShopClient, services, email: str, password: str) -> Response:
    links = []
    await services.password_resets.request(email, "192.0.2.1", lambda token: links.append(token) or "")
    return await client.post(f"/password/reset/{links[0]}", {"password": password})


@pytest.mark.gen_test
async def test_a_reset_takes_the_account_from_whoever_registered_its_email_and_their_sign_ins(client, services, fake):
    victim = "victim@example.com"
    mallory = client.another()  # registers the victim's email, which nobody checks, and links her own X
    await services.accounts.register(victim, "mallory's passphrase")
    await mallory.login(victim, "mallory's passphrase")
    fake.people["x"] = Person("x-mallory", "Mallory")
    start = await mallory.post("/auth/x")
    assert (await mallory.get(path_of(await at_provider(mallory, start.location)))).location == "/account?linked=x"
    owner = client.another()  # the email's owner is told to sign in once, and resets the password to
    fake.people["google"] = Person("g-victim", "Victim", victim)
    assert (await continue_with(owner, "google")).location.startswith("/login")

    reset = await reset_password(owner, services, victim, "the owner's passphrase")

    assert reset.location == "/account?password=reset-unlinked"
    assert "linked to this account before its email was confirmed are unlinked" in text_of(
        (await owner.get(reset.location)).text)
    assert [identity["_id"] for identity in await identities(services)] == ["google:g-victim"]
    later = client.another()
    await continue_with(later, "x")  # Mallory's X now opens an account of its own, not the victim's
    assert await signed_in_as(later) != victim
    assert await signed_in_as(owner) == victim


@pytest.mark.gen_test
async def test_a_reset_keeps_the_sign_ins_its_email_was_proven_with(client, services, fake):
    fake.people["google"] = Person("g-11", "Reader", SHOPPER_EMAIL)
    await continue_with(client, "google")  # the account is made with the email Google vouches for
    fake.people["x"] = Person("x-11", "Reader")
    start = await client.post("/auth/x")
    await client.get(path_of(await at_provider(client, start.location)))

    reset = await reset_password(client.another(), services, SHOPPER_EMAIL, "a new long passphrase")

    assert reset.location == "/account?password=reset"
    assert [identity["_id"] for identity in await identities(services)] == ["google:g-11", "x:x-11"]
