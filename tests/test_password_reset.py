"""Forgotten passwords: a link mailed through a real SMTP server, single-use, for one hour; the answer
never tells whether an email has an account."""

import datetime

import pytest

from burts_books.password_resets import SUBJECT, digest
from burts_books.web.account import PASSWORD_SET
from tests.constants import ADDRESS, PASSWORD, SHOPPER_EMAIL
from tests.mail_server import MailCatcher, body_of, links_in
from tests.shop_client import ShopClient, field_errors, signed_in_as, text_of
from tests.store import shop_settings, store_snapshot
from tests.waiting import until

NEW_PASSWORD = "a brand new passphrase"
PUBLIC_URL = "https://books.example"
FORGED_HOST = {"Host": "attacker.example"}  # nginx passes on any Host header (server_name _)


@pytest.fixture
def mail_server():
    with MailCatcher() as server:
        yield server


@pytest.fixture
def settings(tmp_path, mail_server, request):
    marked = request.node.get_closest_marker("settings")
    return shop_settings(tmp_path, smtp_url=mail_server.url, **(marked.kwargs if marked else {}))


async def ask_for_link(client, email):
    return await client.post("/password/forgot", {"email": email})


def answer_text(response, email):
    """What the page says, with the email typed taken out."""
    return text_of(response.text).replace(email, "EMAIL")


async def mailed_link(client, mail_server, email=SHOPPER_EMAIL, count=1):
    """The path of the reset link in the `count`-th mail to `email`."""
    await until(lambda: len(mail_server.to(email)) >= count, message="no reset mail arrived")
    message = mail_server.to(email)[count - 1]
    assert message["Subject"] == SUBJECT
    [link] = links_in(message)
    assert link.startswith(client.base_url)
    return link[len(client.base_url):]


@pytest.mark.gen_test
async def test_the_mailed_link_sets_a_new_password_and_ends_every_other_session(client, services, mail_server,
                                                                                 reader):
    elsewhere = client.another()
    await elsewhere.login(SHOPPER_EMAIL)
    answer = await ask_for_link(client, SHOPPER_EMAIL)
    assert answer.code == 200
    path = await mailed_link(client, mail_server)

    form = await client.get(path)
    assert form.code == 200 and "Choose a new password" in text_of(form.text)
    done = await client.post(path, {"password": NEW_PASSWORD})
    assert (done.code, done.location) == (303, "/account?password=reset")
    assert PASSWORD_SET in text_of((await client.get(done.location)).text)
    assert await signed_in_as(client) == SHOPPER_EMAIL  # this browser is signed in
    assert await signed_in_as(elsewhere) is None  # every other one is signed out
    assert await services.accounts.authenticate(SHOPPER_EMAIL, PASSWORD) is None
    assert await services.accounts.authenticate(SHOPPER_EMAIL, NEW_PASSWORD) is not None

    before = await store_snapshot(services)
    again = await client.post(path, {"password": "yet another passphrase"})
    assert again.code == 400 and "expired or has been used already" in text_of(again.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_the_answer_is_the_same_with_or_without_an_account(client, services, mail_server, reader):
    unknown = await ask_for_link(client, "nobody@example.com")
    known = await ask_for_link(client.another(), SHOPPER_EMAIL)
    assert unknown.code == known.code == 200
    assert answer_text(unknown, "nobody@example.com") == answer_text(known, SHOPPER_EMAIL)
    await mailed_link(client, mail_server)
    # Mail goes out in order: the unknown email's request, made first, sent nothing.
    assert [message["To"] for message in mail_server.messages] == [SHOPPER_EMAIL]


@pytest.mark.gen_test
async def test_only_the_tokens_digest_is_stored(client, services, mail_server, reader):
    await ask_for_link(client, SHOPPER_EMAIL)
    path = await mailed_link(client, mail_server)
    token = path.rpartition("/")[2]
    [stored] = await services.db.password_resets.find().to_list(None)
    assert stored["_id"] == digest(token)
    assert token not in repr(stored)


@pytest.mark.gen_test
async def test_a_link_older_than_an_hour_changes_nothing(client, services, mail_server, reader):
    await ask_for_link(client, SHOPPER_EMAIL)
    path = await mailed_link(client, mail_server)
    [stored] = await services.db.password_resets.find().to_list(None)  # an hour and a minute pass
    await services.db.password_resets.update_one(
        {"_id": stored["_id"]}, {"$set": {"expires_at": stored["expires_at"] - datetime.timedelta(minutes=61)}}
    )
    before = await store_snapshot(services)
    assert (await client.get(path)).code == 400
    refused = await client.post(path, {"password": NEW_PASSWORD})
    assert refused.code == 400 and "Ask for a new link" in text_of(refused.text)
    assert await store_snapshot(services) == before


@pytest.mark.gen_test
async def test_a_bad_new_password_is_refused_and_the_link_still_works(client, services, mail_server, reader):
    await ask_for_link(client, SHOPPER_EMAIL)
    path = await mailed_link(client, mail_server)
    before = await store_snapshot(services)
    refused = await client.post(path, {"password": "short"})
    assert refused.code == 400
    assert field_errors(refused.text) == {"password": "Use at least 8 characters."}
    assert await store_snapshot(services) == before
    assert (await client.post(path, {"password": NEW_PASSWORD})).code == 303


@pytest.mark.gen_test
async def test_a_made_up_link_is_refused(client):
    made_up = "/password/reset/" + "A" * 43
    assert (await client.get(made_up)).code == 400
    assert (await client.post(made_up, {"password": NEW_PASSWORD})).code == 400


@pytest.mark.gen_test
async def test_something_that_is_not_an_email_gets_a_clear_error(client, mail_server):
    answer = await ask_for_link(client, "not an email")
    assert answer.code == 400
    assert field_errors(answer.text) == {"email": "Give a valid email address."}


@pytest.mark.gen_test
async def test_requests_are_limited_per_email_and_per_address(proxied_url, http_client, services, mail_server,
                                                             reader):
    client = ShopClient(http_client, proxied_url, address=ADDRESS)
    for _ in range(3):
        assert (await ask_for_link(client, SHOPPER_EMAIL)).code == 200
    refused = await ask_for_link(client, SHOPPER_EMAIL)
    assert refused.code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many password reset requests" in text_of(refused.text)
    # Other emails from the same address, up to the address's allowance (10 an hour, 4 used).
    answers = [(await ask_for_link(client, f"someone{n}@example.com")).code for n in range(7)]
    assert answers == [200] * 6 + [429]
    assert (await ask_for_link(client.another("192.0.2.99"), "other@example.com")).code == 200
    await until(lambda: len(mail_server.to(SHOPPER_EMAIL)) == 3)
    assert "the link works once, for one hour" in body_of(mail_server.to(SHOPPER_EMAIL)[0])


@pytest.mark.gen_test
async def test_without_a_public_url_a_request_naming_another_host_mails_no_link_and_counts_nothing(
    client, services, settings, mail_server, reader
):
    attacker = client.another()
    before = await store_snapshot(services)
    for _ in range(settings.password_resets_per_email):
        refused = await attacker.post("/password/forgot", {"email": SHOPPER_EMAIL}, headers=FORGED_HOST)
        assert refused.code == 421 and "--public-url" in text_of(refused.text)
    assert await store_snapshot(services) == before
    # The victim's own request, to the shop on this machine, is not used up and gets a working link.
    assert (await ask_for_link(client, SHOPPER_EMAIL)).code == 200
    path = await mailed_link(client, mail_server)
    assert (await client.post(path, {"password": NEW_PASSWORD})).code == 303
    assert [message["To"] for message in mail_server.messages] == [SHOPPER_EMAIL]
    assert "attacker.example" not in body_of(mail_server.messages[0])


@pytest.mark.gen_test
@pytest.mark.settings(public_url=PUBLIC_URL)
async def test_with_a_public_url_the_mailed_link_points_there_whatever_host_was_named(client, mail_server, reader):
    answer = await client.another().post("/password/forgot", {"email": SHOPPER_EMAIL}, headers=FORGED_HOST)
    assert answer.code == 200
    await until(lambda: mail_server.to(SHOPPER_EMAIL), message="no reset mail arrived")
    [link] = links_in(mail_server.to(SHOPPER_EMAIL)[0])
    assert link.startswith(PUBLIC_URL + "/password/reset/")
    path = link[len(PUBLIC_URL):]  # the shop at that address takes it
    assert (await client.post(path, {"password": NEW_PASSWORD})).code == 303


@pytest.mark.gen_test
@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]"])
async def test_without_a_public_url_the_shop_tried_on_this_machine_mails_links_to_it(client, mail_server, reader,
                                                                                     http_port, host):
    own_address = {"Host": f"{host}:{http_port}"}
    assert (await client.post("/password/forgot", {"email": SHOPPER_EMAIL}, headers=own_address)).code == 200
    await until(lambda: mail_server.to(SHOPPER_EMAIL), message="no reset mail arrived")
    [link] = links_in(mail_server.to(SHOPPER_EMAIL)[0])
    assert link.startswith(f"http://{host}:{http_port}/password/reset/")
