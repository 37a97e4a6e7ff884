"""Guessing passwords, and flooding the shop with sign-ins (and password changes and resets, which hash
as sign-ins do) that each cost argon2's memory.

Requests come through a proxy that reports each client's address; argon2 is the tests'
cheap one, wrapped so a test can see how many hashes run at once and hold them running.
"""

import asyncio
import threading

import pytest

from burts_books import accounts
from burts_books.web.auth import WRONG_PASSWORD
from tests.constants import ATTACKER, PASSWORD, SHOPPER_EMAIL
from tests.shop_client import ShopClient, text_of
from tests.waiting import WAIT_TIMEOUT, until

OTHER_ATTACKER = "203.0.113.67"
OWNER = "198.51.100.7"  # where the account's owner signs in from
UNKNOWN_EMAIL = "nobody@example.com"


class HeldHasher:
    """argon2 that counts the hashes running at once and, until `release()`, holds each in its thread."""

    def __init__(self, hasher):
        self.hasher = hasher
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.running = self.most = self.calls = 0

    def _hold(self, work):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.calls += 1
        try:
            self.released.wait(WAIT_TIMEOUT)
            return work()
        finally:
            with self.lock:
                self.running -= 1

    def hash(self, password):
        return self._hold(lambda: self.hasher.hash(password))

    def verify(self, stored, password):
        return self._hold(lambda: self.hasher.verify(stored, password))

    def check_needs_rehash(self, stored):
        return self.hasher.check_needs_rehash(stored)

    def release(self):
        self.released.set()


@pytest.fixture
def held_hashing(monkeypatch):
    accounts._dummy_hash()  # made beforehand, not inside a held verify
    hasher = HeldHasher(accounts._hasher)
    monkeypatch.setattr(accounts, "_hasher", hasher)
    yield hasher
    hasher.release()


def waiting_for_argon2(services):
    return services.limits.password_hashing.waiting


def browser_at(http, proxied_url, address):
    return ShopClient(http, proxied_url, address)


async def sign_in(browser, email, password="a wrong guess"):
    return await browser.post("/login", {"email": email, "password": password})


def the_answer(response):
    """What a client learns from a refusal: status, the headers that matter, the page's words
    (but the request's own id, which every page has one of)."""
    words = text_of(response.text).replace(response.headers["X-Request-Id"], "(its id)")
    return response.code, response.headers.get("Retry-After"), words


@pytest.mark.gen_test
async def test_an_email_is_locked_after_its_failed_sign_ins_whether_or_not_it_has_an_account(
    reader, settings, http_client, proxied_url
):
    # From two addresses, so that only the emails' limits apply.
    guessing = {SHOPPER_EMAIL: browser_at(http_client, proxied_url, ATTACKER),
                UNKNOWN_EMAIL: browser_at(http_client, proxied_url, OTHER_ATTACKER)}
    for _ in range(settings.sign_in_attempts_per_account):
        for email, browser in guessing.items():
            wrong = await sign_in(browser, email)
            assert wrong.code == 400 and WRONG_PASSWORD in text_of(wrong.text)

    known, unknown = [await sign_in(browser, email) for email, browser in guessing.items()]

    assert the_answer(known) == the_answer(unknown)
    status, retry_after, text = the_answer(known)
    assert status == 429 and 14 * 60 < int(retry_after) <= 15 * 60
    assert "Too many failed sign-ins: try again in 15 minutes." in text
    # The lock holds for the right password too, and from anywhere: guessing can't go on elsewhere.
    owner = browser_at(http_client, proxied_url, OWNER)
    assert (await sign_in(owner, SHOPPER_EMAIL, PASSWORD)).code == 429
    assert "session" not in owner.cookies


@pytest.mark.gen_test
async def test_an_address_is_locked_after_its_failed_sign_ins_over_many_emails(
    reader, settings, http_client, proxied_url
):
    guessing = browser_at(http_client, proxied_url, ATTACKER)
    for n in range(settings.sign_in_attempts_per_address):
        assert (await sign_in(guessing, f"guess{n}@example.com")).code == 400

    refused = await sign_in(guessing, SHOPPER_EMAIL, PASSWORD)
    assert refused.code == 429 and int(refused.headers["Retry-After"]) > 0
    assert (await sign_in(browser_at(http_client, proxied_url, OWNER), SHOPPER_EMAIL, PASSWORD)).code == 302


@pytest.mark.gen_test
async def test_a_right_password_is_not_counted_against_the_account(reader, settings, http_client, proxied_url):
    owner = browser_at(http_client, proxied_url, OWNER)
    for _ in range(settings.sign_in_attempts_per_account - 1):
        assert (await sign_in(owner, SHOPPER_EMAIL)).code == 400
    assert (await sign_in(owner, SHOPPER_EMAIL, PASSWORD)).code == 302
    assert (await sign_in(owner.another(), SHOPPER_EMAIL)).code == 400  # the last failure allowed, not a lock
    assert (await sign_in(owner.another(), SHOPPER_EMAIL)).code == 429


@pytest.mark.gen_test(timeout=15)
async def test_guesses_sent_all_at_once_get_no_more_tries(reader, held_hashing, settings, many_at_once, proxied_url):
    held_hashing.release()  # counted, not held
    # Each from its own address: only the account's limit applies.
    guesses = [sign_in(browser_at(many_at_once, proxied_url, f"10.0.0.{n}"), SHOPPER_EMAIL) for n in range(50)]

    codes = sorted(response.code for response in await asyncio.gather(*guesses))

    allowed = settings.sign_in_attempts_per_account
    assert codes == [400] * allowed + [429] * (50 - allowed)
    assert held_hashing.calls == allowed  # the other guesses were never checked


@pytest.mark.gen_test(timeout=15)
async def test_a_flood_of_sign_ins_hashes_a_few_at_once_and_turns_away_what_it_cannot_queue(
    held_hashing, services, settings, many_at_once, proxied_url
):
    at_once, queue = settings.password_hashes_at_once, settings.password_hash_queue
    answers = []

    async def guess(n):
        browser = browser_at(many_at_once, proxied_url, f"10.0.{n // 256}.{n % 256}")
        answers.append(await sign_in(browser, f"guess{n}@example.com"))

    flood = asyncio.gather(*(guess(n) for n in range(100)))
    await until(lambda: len(answers) == 100 - at_once - queue, message="the flood was not turned away")
    busy = answers[0]
    assert {a.code for a in answers} == {429} and busy.headers["Retry-After"] == "1"
    assert "We're busy signing people in: try again in a moment." in text_of(busy.text)
    # The rest wait for a turn outside the threads, without argon2's memory.
    assert (held_hashing.running, waiting_for_argon2(services)) == (at_once, queue)

    held_hashing.release()
    await flood
    assert [a.code for a in answers].count(400) == at_once + queue
    assert held_hashing.most == at_once


@pytest.mark.gen_test(timeout=15)
async def test_a_flood_from_one_address_leaves_the_owner_room_to_sign_in(
    reader, held_hashing, services, settings, many_at_once, proxied_url
):
    flood = [sign_in(browser_at(many_at_once, proxied_url, ATTACKER), f"guess{n}@example.com") for n in range(100)]
    flooding = asyncio.gather(*flood)
    under_way = settings.sign_ins_at_once_per_address  # the address's share; the queue has room for more
    await until(lambda: held_hashing.running + waiting_for_argon2(services) == under_way)

    owner = browser_at(many_at_once, proxied_url, OWNER)
    signing_in = asyncio.ensure_future(sign_in(owner, SHOPPER_EMAIL, PASSWORD))
    await until(lambda: held_hashing.running + waiting_for_argon2(services) == under_way + 1,
                message="the owner was not let in to wait for a turn")
    held_hashing.release()

    assert (await signing_in).code == 302
    codes = [response.code for response in await flooding]
    assert codes.count(400) == under_way and codes.count(429) == 100 - under_way
    assert held_hashing.calls == under_way + 1  # the refused guesses never reached argon2
    assert held_hashing.most <= settings.password_hashes_at_once


NEW_PASSWORD = "a brand new passphrase"
SOMEONE_ELSE = "someone.else@example.com"


@pytest.fixture
def someone_else(make_user):
    """Another person's account, made before any argon2 is held."""
    return make_user(SOMEONE_ELSE)


@pytest.fixture
def signed_in_attacker(reader, io_loop, many_at_once, proxied_url):
    """A browser signed in to the shopper's account from ATTACKER's address (a stolen session, or a
    spiteful shopper), before any argon2 is held."""
    browser = browser_at(many_at_once, proxied_url, ATTACKER)
    io_loop.run_sync(lambda: browser.login(SHOPPER_EMAIL))
    return browser


async def change_password(browser, current="a wrong guess"):
    return await browser.post("/account/password", {"current_password": current, "password": NEW_PASSWORD})


async def flood_leaves_room_for_someone_else(send, held_hashing, services, settings, browser):
    """Keep 20 of `send()` going from one address and have someone else sign in meanwhile from another:
    the address gets its share of turns and the rest are turned away at once, before any argon2,
    while the other person is let in to wait for a turn. The flood's answers, once argon2 is released."""
    answers = []

    async def one():
        answers.append(await send())

    flooding = asyncio.gather(*(one() for _ in range(20)))
    under_way = settings.sign_ins_at_once_per_address
    await until(lambda: len(answers) == 20 - under_way, message="the flood was not turned away")
    assert {answer.code for answer in answers} == {429}
    assert held_hashing.running + waiting_for_argon2(services) == under_way

    signing_in = asyncio.ensure_future(sign_in(browser, SOMEONE_ELSE, PASSWORD))
    await until(lambda: held_hashing.running + waiting_for_argon2(services) == under_way + 1,
                message="someone else was not let in to wait for a turn")
    held_hashing.release()
    assert (await signing_in).code == 302
    await flooding
    assert held_hashing.calls == under_way + 1  # the refused requests never reached argon2
    return answers


@pytest.mark.gen_test(timeout=15)
async def test_a_flood_of_password_changes_leaves_others_room_to_sign_in(
    signed_in_attacker, someone_else, held_hashing, services, settings, many_at_once, proxied_url
):
    answers = await flood_leaves_room_for_someone_else(
        lambda: change_password(signed_in_attacker), held_hashing, services, settings,
        browser_at(many_at_once, proxied_url, OWNER))
    codes = [answer.code for answer in answers]
    assert codes.count(400) == settings.sign_ins_at_once_per_address
    assert await services.accounts.authenticate(SHOPPER_EMAIL, PASSWORD) is not None  # nothing changed


@pytest.mark.gen_test(timeout=15)
async def test_password_changes_count_as_sign_ins_and_a_refused_one_hashes_no_new_password(
    signed_in_attacker, held_hashing, services, settings
):
    held_hashing.release()  # counted, not held
    for _ in range(settings.sign_in_attempts_per_account):
        assert (await change_password(signed_in_attacker)).code == 400
    assert held_hashing.calls == settings.sign_in_attempts_per_account  # each checked the current password only

    refused = [await change_password(signed_in_attacker) for _ in range(5)]
    refused.append(await change_password(signed_in_attacker, current=PASSWORD))  # locked, even to the right one
    assert {answer.code for answer in refused} == {429}
    assert "Too many failed sign-ins" in text_of(refused[0].text)
    assert held_hashing.calls == settings.sign_in_attempts_per_account  # and past the lock, no argon2 at all
    assert await services.accounts.authenticate(SHOPPER_EMAIL, PASSWORD) is not None


@pytest.mark.gen_test(timeout=15)
async def test_one_reset_link_sent_many_times_at_once_leaves_others_room_to_sign_in(
    reader, someone_else, held_hashing, services, settings, many_at_once, proxied_url
):
    mailed = []

    def link_for(token):
        mailed.append(token)
        return f"/password/reset/{token}"

    await services.password_resets.request(SHOPPER_EMAIL, ATTACKER, link_for)  # for the attacker's own account
    [token] = mailed
    attacker = browser_at(many_at_once, proxied_url, ATTACKER)
    answers = await flood_leaves_room_for_someone_else(
        lambda: attacker.post(f"/password/reset/{token}", {"password": NEW_PASSWORD}), held_hashing, services,
        settings, browser_at(many_at_once, proxied_url, OWNER))
    codes = [answer.code for answer in answers]
    # One use took the link; the other that hashed found it gone.
    assert (codes.count(303), codes.count(400)) == (1, settings.sign_ins_at_once_per_address - 1)
