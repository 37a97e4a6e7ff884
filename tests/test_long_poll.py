"""Long polling: GET /cart/status answers when a book changes, never missing an update."""

import asyncio
import time

import pytest
import tornado.httpclient

from tests.inventory_helpers import PCI, RESTFUL, cart_json, until
from tests.shop_client import ShopClient


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
async def test_a_waiting_poll_is_answered_by_the_next_change(client, http_client, base_url):
    shopper = ShopClient(http_client, base_url)
    waiting = asyncio.ensure_future(poll(client, (PCI, 1), (RESTFUL, 1)))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    started = time.monotonic()
    await cart_json(shopper, "add", RESTFUL)
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
async def test_a_change_between_two_polls_is_not_missed(client, http_client, base_url):
    shopper = ShopClient(http_client, base_url)
    first = asyncio.ensure_future(poll(client, (PCI, 1)))
    await asyncio.sleep(0.1)
    await cart_json(shopper, "add")
    (seen,) = await first
    assert seen["version"] == 2
    await cart_json(shopper, "add")  # while the page is not polling
    started = time.monotonic()
    assert await poll(client, (PCI, seen["version"])) == [{"isbn": PCI, "available": 10, "version": 3}]
    assert time.monotonic() - started < 0.5


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
    ("isbn=9781234567897&version=1", 404, "No book with ISBN 9781234567897"),
])
@pytest.mark.gen_test
async def test_bad_polls_get_a_json_error(client, services, query, code, message):
    response = await client.get(f"/cart/status?{query}")
    assert response.code == code
    assert message in response.json()["error"]["message"]
    assert len(services.live) == 0
