"""Account enumeration through registration: /register must not tell whether an email has an account."""

import pytest

from burts_books import accounts
from tests.constants import ATTACKER, PASSWORD, SHOPPER_EMAIL
from tests.shop_client import ShopClient, forms, text_of

NEW_EMAIL = "newcomer@example.com"


class CountingHasher:
    """argon2 that counts the hashes it makes."""

    def __init__(self, hasher):
        self.hasher = hasher
        self.hashes = 0

    def hash(self, password):
        self.hashes += 1
        return self.hasher.hash(password)

    def __getattr__(self, name):
        return getattr(self.hasher, name)


@pytest.fixture
def counting_hasher(monkeypatch):
    hasher = CountingHasher(accounts._hasher)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    return hasher


def what_a_visitor_sees(response, email):
    """Status, cookies set, the page's words and forms, the email typed in put aside."""
    page_forms = [(f.action, f.method, {k: v.replace(email, "EMAIL") for k, v in f.values.items()})
                  for f in forms(response.text)]
    cookies = sorted(header.partition("=")[0] for header in response.headers.get_list("Set-Cookie"))
    return response.code, cookies, text_of(response.text).replace(email, "EMAIL"), page_forms


@pytest.mark.gen_test
async def test_registering_a_taken_email_looks_like_registering_a_new_one_and_changes_nothing(
    client, reader, services, counting_hasher
):
    owner_before = await services.db.users.find_one({"email": SHOPPER_EMAIL})
    counting_hasher.hashes = 0
    taken_by, new_by = client.another(), client.another()

    taken = await taken_by.post("/register", {"email": SHOPPER_EMAIL, "password": "the attacker's own"})
    hashes_for_taken = counting_hasher.hashes
    new = await new_by.post("/register", {"email": NEW_EMAIL, "password": "the newcomer's own"})

    assert what_a_visitor_sees(taken, SHOPPER_EMAIL) == what_a_visitor_sees(new, NEW_EMAIL)
    assert taken.code == 200 and "session" not in taken_by.cookies
    # The same argon2 work either way, so the time taken doesn't tell either.
    assert hashes_for_taken == 1 and counting_hasher.hashes == 2
    assert await services.db.users.find_one({"email": SHOPPER_EMAIL}) == owner_before
    assert (await taken_by.post("/login", {"email": SHOPPER_EMAIL, "password": "the attacker's own"})).code == 400
    await taken_by.login(SHOPPER_EMAIL, PASSWORD)  # the owner's password still opens it
    await new_by.login(NEW_EMAIL, "the newcomer's own")


@pytest.mark.gen_test
async def test_registrations_from_one_address_are_limited(settings, http_client, proxied_url):
    registering = ShopClient(http_client, proxied_url, ATTACKER)
    typo = await registering.post("/register", {"email": "typo@example", "password": "long enough"})
    assert typo.code == 400  # not counted: nothing was registered
    for n in range(settings.registrations_per_address):
        registered = await registering.post("/register", {"email": f"bot{n}@example.com", "password": "long enough"})
        assert registered.code == 200

    refused = await registering.post("/register", {"email": "one-more@example.com", "password": "long enough"})

    assert refused.code == 429 and 59 * 60 < int(refused.headers["Retry-After"]) <= 60 * 60
    assert "Too many accounts were created from your network: try again in 60 minutes." in text_of(refused.text)
    elsewhere = registering.another("198.51.100.7")
    assert (await elsewhere.post("/register", {"email": "someone@example.com", "password": "long enough"})).code == 200
