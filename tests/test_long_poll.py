"""Long polling: GET /cart/status answers when a book changes, never missing an update.

Unless a test is about the timeout itself, a poll here waits for an hour
before it answers unchanged: a poll that answers at all was answered by the
data (at once, or by a change), never by the clock. One held for nothing
fails the test at its own timeout.
"""

import asyncio
import dataclasses
import json
import time

import pytest

from burts_books.live import Poll
from burts_books.web.live import poll_answer
from tests.constants import PCI, RESTFUL, UNKNOWN_ISBN
from tests.shop_client import raw_poll
from tests.waiting import result_of, until

NEVER = 3600.0  # seconds: a poll timeout no test lives to see


@pytest.fixture
def poll_timeout():
    return NEVER


@pytest.fixture
def settings(settings, poll_timeout):
    return dataclasses.replace(settings, long_poll_timeout_seconds=poll_timeout)


async def without_waiting(answer):
    """The answer of a poll that nothing more will change: it must come from what the server already knows."""
    return await result_of(answer, message="the poll is held, waiting for a change that will never come")


@pytest.mark.gen_test
async def test_a_poll_behind_the_current_version_is_answered_at_once(client):
    assert await without_waiting(client.poll((PCI, 0))) == [{"isbn": PCI, "available": 12, "version": 1}]
    assert await without_waiting(client.poll((PCI, None))) == [{"isbn": PCI, "available": 12, "version": 1}]


@pytest.mark.gen_test
async def test_a_waiting_poll_is_answered_by_the_next_change(client, services):
    shopper = client.another()
    waiting = asyncio.ensure_future(client.poll((PCI, 1), (RESTFUL, 1)))
    await until(lambda: len(services.live) == 1)  # the server is holding the poll
    assert not waiting.done()
    await shopper.cart_json("add", RESTFUL)
    books = await result_of(waiting, message="the change did not answer the waiting poll")
    assert books == [
        {"isbn": PCI, "available": 12, "version": 1},
        {"isbn": RESTFUL, "available": books[1]["available"], "version": 2},
    ]
    assert books[1]["available"] == (await without_waiting(client.poll((RESTFUL, None))))[0]["available"]


@pytest.mark.parametrize("poll_timeout", [1.0])
@pytest.mark.gen_test(timeout=10)
async def test_an_idle_poll_times_out_with_the_unchanged_state(client, poll_timeout):
    # Time is the behaviour here: answered at its timeout, well before a proxy would cut the request.
    started = time.monotonic()
    assert await client.poll((PCI, 1)) == [{"isbn": PCI, "available": 12, "version": 1}]
    assert poll_timeout <= time.monotonic() - started < poll_timeout + 3


@pytest.mark.gen_test
async def test_a_change_between_two_polls_is_not_missed(client, services):
    shopper = client.another()
    first = asyncio.ensure_future(client.poll((PCI, 1)))
    await until(lambda: len(services.live) == 1)
    await shopper.cart_json("add")
    (seen,) = await result_of(first, message="the change did not answer the waiting poll")
    assert seen["version"] == 2
    await shopper.cart_json("add")  # while the page is not polling
    assert await without_waiting(client.poll((PCI, seen["version"]))) == [
        {"isbn": PCI, "available": 10, "version": 3}
    ]


@pytest.mark.gen_test
async def test_a_poll_never_starts_from_a_count_not_yet_durable(client, services, monkeypatch):
    # A cart add is written, but the store has not yet made it durable: a crash now would undo it.
    written, durable = asyncio.Event(), asyncio.Event()
    make_durable = services.db.when_durable

    async def held_until_durable(action):
        written.set()
        await durable.wait()
        await make_durable(action)

    monkeypatch.setattr(services.db, "when_durable", held_until_durable)
    adding = asyncio.ensure_future(client.another().cart_json("add"))
    await result_of(written.wait(), message="the cart add was not written")
    assert (await services.inventory.state(PCI))["version"] == 2  # in the database, not yet durable
    polling = asyncio.ensure_future(client.poll((PCI, 1)))
    await until(lambda: polling.done() or len(services.live) == 1)
    await asyncio.sleep(0.05)
    assert not polling.done(), f"a poll showed a count not yet durable: {polling.result()}"
    durable.set()
    assert await result_of(polling, message="the durable change did not answer the poll") == [
        {"isbn": PCI, "available": 11, "version": 2}]
    assert (await adding).code == 200


@pytest.mark.gen_test
async def test_a_client_that_goes_away_is_forgotten(http_server, base_url, services):
    _, writer = await raw_poll(base_url, (PCI, 1))
    await until(lambda: len(services.live) == 1)  # the server is holding the poll
    writer.close()  # the page is closed
    await writer.wait_closed()
    # Dropped because the client went away: the poll's own timeout is an hour off.
    await until(lambda: len(services.live) == 0, message="the server still holds a poll nobody waits for")


@pytest.mark.parametrize("query, code, message", [
    ("", 400, "Say which book to watch"),
    (f"isbn={PCI}&version=new", 400, "version must be a whole number"),
    (f"isbn={PCI}&version=-1", 400, "version must be a whole number"),
    ("isbn=12345&version=1", 400, "Not a valid ISBN"),
    (f"isbn={PCI}&isbn={RESTFUL}&version=1", 400, "one version per isbn"),
    (f"isbn={UNKNOWN_ISBN}&version=1", 404, f"No book with ISBN {UNKNOWN_ISBN}"),
    # A book behind its current version, which alone would be answered at once: refused all the same.
    (f"isbn={PCI}&version=0&isbn={UNKNOWN_ISBN}&version=1", 404, f"No book with ISBN {UNKNOWN_ISBN}"),
    (f"isbn={PCI}&version=1&isbn=0596529325&version=2", 400, "ISBN 9780596529321 is given twice"),
    ("&".join([f"isbn={PCI}"] * 101), 400, "Watch at most 100 books per poll."),
])
@pytest.mark.gen_test
async def test_bad_polls_get_a_json_error(client, services, query, code, message):
    response = await client.get(f"/cart/status?{query}")
    assert response.code == code
    assert message in response.json()["error"]["message"]
    assert len(services.live) == 0


def test_a_poll_answer_is_encoded_once_for_the_polls_one_change_releases_and_anew_for_other_states():
    first = {"isbn": PCI, "available": 3, "version": 7}
    answer = poll_answer([first])
    assert json.loads(answer) == {"books": [first]}
    assert poll_answer([first]) is answer
    later = {**first, "available": 2, "version": 8}
    assert json.loads(poll_answer([later])) == {"books": [later]}
    other = {"isbn": RESTFUL, "available": 1, "version": 2}
    assert json.loads(poll_answer([later, other])) == {"books": [later, other]}
    assert json.loads(poll_answer([later])) == {"books": [later]}


@pytest.mark.gen_test
async def test_a_poll_that_fails_to_answer_keeps_no_other_poll_from_the_change(services, caplog):
    def failing(books):
        raise RuntimeError("the answer could not be written")

    version = (await services.inventory.state(PCI))["version"]
    answers = []
    # The feed's watchers are a set, in no set order: with twenty polls that answer, some come after it.
    polls = [Poll({PCI: version}, failing)] + [Poll({PCI: version}, answers.append) for _ in range(20)]
    held = [asyncio.ensure_future(services.live.long_poll(poll, NEVER)) for poll in polls]
    await until(lambda: len(services.live) == len(polls))
    restocked = await services.inventory.restock(PCI, 1, "staff@example.com")
    await asyncio.gather(*held)
    assert answers == [[restocked]] * 20
    assert "could not answer a long poll" in caplog.text
