"""Long polling: GET /cart/status answers when a book changes, never missing an update."""

import asyncio
import time

import pytest
import tornado.httpclient

from tests.constants import PCI, RESTFUL, UNKNOWN_ISBN
from tests.waiting import recorder, until


def status_url(*pairs):
    return "/cart/status?" + "&".join(
        f"isbn={isbn}" + (f"&version={version}" if version is not None else "") for isbn, version in pairs
    )


async def poll(client, *pairs):
    response = await client.get(status_url(*pairs))
    assert response.code == 200, response.text
    return response.json()["books"]


@pytest.mark.gen_test
async def test_a_poll_behind_the_current_version_is_answered_at_once(client):
    started = time.monotonic()
    assert await poll(client, (PCI, 0)) == [{"isbn": PCI, "available": 12, "version": 1}]
    assert await poll(client, (PCI, None)) == [{"isbn": PCI, "available": 12, "version": 1}]
    assert time.monotonic() - started < 0.5


@pytest.mark.gen_test
async def test_a_waiting_poll_is_answered_by_the_next_change(client, services):
    shopper = client.another()
    waiting = asyncio.ensure_future(poll(client, (PCI, 1), (RESTFUL, 1)))
    await until(lambda: len(services.live) == 1)  # the server is holding the poll
    assert not waiting.done()
    started = time.monotonic()
    await shopper.cart_json("add", RESTFUL)
    books = await waiting
    assert time.monotonic() - started < 0.5
    assert books == [
        {"isbn": PCI, "available": 12, "version": 1},
        {"isbn": RESTFUL, "available": books[1]["available"], "version": 2},
    ]
    assert books[1]["available"] == (await poll(client, (RESTFUL, None)))[0]["available"]


@pytest.mark.gen_test
async def test_an_idle_poll_times_out_with_the_unchanged_state(client, settings):
    started = time.monotonic()
    assert await poll(client, (PCI, 1)) == [{"isbn": PCI, "available": 12, "version": 1}]
    assert settings.long_poll_timeout_seconds <= time.monotonic() - started < settings.long_poll_timeout_seconds + 1


@pytest.mark.gen_test
async def test_a_change_between_two_polls_is_not_missed(client, services):
    shopper = client.another()
    first = asyncio.ensure_future(poll(client, (PCI, 1)))
    await until(lambda: len(services.live) == 1)
    await shopper.cart_json("add")
    (seen,) = await first
    assert seen["version"] == 2
    await shopper.cart_json("add")  # while the page is not polling
    started = time.monotonic()
    assert await poll(client, (PCI, seen["version"])) == [{"isbn": PCI, "available": 10, "version": 3}]
    assert time.monotonic() - started < 0.5


@pytest.mark.gen_test
async def test_a_change_while_the_server_reads_the_current_state_is_not_missed(client, services, monkeypatch):
    read_states = services.inventory.states
    events = recorder(services.bus)

    async def states_then_a_shopper_adds(isbns=None):
        found = await read_states(isbns)
        # A change lands after the read and its event is out before the poll starts to wait.
        await services.carts.add(None, None, PCI)
        await until(lambda: events)
        return found

    monkeypatch.setattr(services.inventory, "states", states_then_a_shopper_adds)
    started = time.monotonic()
    assert await poll(client, (PCI, 1)) == [{"isbn": PCI, "available": 11, "version": 2}]
    assert time.monotonic() - started < 0.5  # answered by the change, not by the timeout


@pytest.mark.gen_test
async def test_a_client_that_goes_away_is_forgotten(http_client, base_url, services):
    request = tornado.httpclient.HTTPRequest(base_url + status_url((PCI, 1)), request_timeout=0.3)
    with pytest.raises(tornado.httpclient.HTTPClientError):
        await http_client.fetch(request)
    # Long before the 2-second poll timeout, the server has dropped the waiter.
    await until(lambda: len(services.live) == 0, timeout=0.5)


@pytest.mark.parametrize("query, code, message", [
    ("", 400, "Say which book to watch"),
    (f"isbn={PCI}&version=new", 400, "version must be a whole number"),
    (f"isbn={PCI}&version=-1", 400, "version must be a whole number"),
    ("isbn=12345&version=1", 400, "Not a valid ISBN"),
    (f"isbn={PCI}&isbn={RESTFUL}&version=1", 400, "one version per isbn"),
    (f"isbn={UNKNOWN_ISBN}&version=1", 404, f"No book with ISBN {UNKNOWN_ISBN}"),
    (f"isbn={PCI}&version=1&isbn=0596529325&version=2", 400, "ISBN 9780596529321 is given twice"),
    ("&".join([f"isbn={PCI}"] * 101), 400, "Watch at most 100 books per poll."),
])
@pytest.mark.gen_test
async def test_bad_polls_get_a_json_error(client, services, query, code, message):
    response = await client.get(f"/cart/status?{query}")
    assert response.code == code
    assert message in response.json()["error"]["message"]
    assert len(services.live) == 0
