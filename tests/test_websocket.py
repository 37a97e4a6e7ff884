"""The WebSocket feed at /cart/status/ws: current state on subscribe, then every change."""

import json

import pytest
import tornado.httpclient

from burts_books.live import Outbox
from tests.constants import PCI, RESTFUL, UNKNOWN_ISBN
from tests.waiting import until
from tests.websocket_client import connect, receive, subscribe


@pytest.fixture
def base_url(http_server, base_url):
    """The running shop's address (pytest-tornado only starts it for tests that ask for a server)."""
    return base_url


@pytest.mark.gen_test
async def test_subscribers_get_the_current_state_then_every_change(base_url, client):
    socket = await connect(base_url, origin=base_url)
    subscribe(socket, [PCI, "0-596-52926-0"])
    first = {message["isbn"]: message for message in [await receive(socket), await receive(socket)]}
    assert first[PCI] == {"type": "state", "isbn": PCI, "available": 12, "version": 1}
    assert first[RESTFUL]["type"] == "state" and first[RESTFUL]["version"] == 1  # ISBN-10 accepted

    await client.cart_json("add")
    assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 11, "version": 2}
    await client.cart_json("remove")
    assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 12, "version": 3}
    socket.close()


@pytest.mark.gen_test
async def test_subscribing_to_all_books(base_url, client, services):
    socket = await connect(base_url)
    subscribe(socket, "all")
    count = await services.db.books.count_documents({})
    states = [await receive(socket) for _ in range(count)]
    assert {state["isbn"] for state in states} == {b["isbn"] async for b in services.db.books.find()}
    # Each book once: the next message is the next change.
    await client.cart_json("add")
    assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 11, "version": 2}
    socket.close()


@pytest.mark.parametrize("message, error", [
    ("hello", "Messages must be JSON"),
    ("[1, 2]", 'Send {"subscribe": [isbn, ...]}'),
    ('{"subscribe": []}', 'Send {"subscribe": [isbn, ...]}'),
    ('{"subscribe": [42]}', "Not an ISBN"),
    ('{"subscribe": ["12345"]}', "Not a valid ISBN"),
    (json.dumps({"subscribe": [UNKNOWN_ISBN]}), f"No book with ISBN {UNKNOWN_ISBN}."),
    (json.dumps({"subscribe": [PCI] * 101}), "Subscribe to at most 100 books per message"),
])
@pytest.mark.gen_test
async def test_a_bad_message_gets_an_error_and_the_connection_stays_usable(base_url, message, error):
    socket = await connect(base_url)
    socket.write_message(message)
    answer = await receive(socket)
    assert answer["type"] == "error" and error in answer["message"]
    subscribe(socket, [PCI])
    assert (await receive(socket))["isbn"] == PCI
    socket.close()


@pytest.mark.parametrize("origin", [
    lambda site: "https://evil.example",
    lambda site: site + ".evil.example",  # starts like this site's address
    lambda site: site.rsplit(":", 1)[0] + ":1",  # same host, another port: another site to the browser
])
@pytest.mark.gen_test
async def test_another_site_cannot_open_the_feed(base_url, services, origin):
    with pytest.raises(tornado.httpclient.HTTPClientError) as refused:
        await connect(base_url, origin=origin(base_url))
    assert refused.value.code == 403
    assert len(services.live) == 0


@pytest.mark.gen_test
async def test_after_a_gap_the_feed_resyncs_from_the_database(base_url, services):
    socket = await connect(base_url)
    subscribe(socket, [PCI, RESTFUL])
    assert [(await receive(socket))["version"] for _ in range(2)] == [1, 1]
    # A change whose event was lost (say Redis was down when it was published).
    await services.db.books.update_one({"isbn": PCI}, {"$set": {"available": 7, "inventory_version": 4}})
    await services.live.resync()
    assert await receive(socket) == {"type": "state", "isbn": PCI, "available": 7, "version": 4}
    # Resyncing again, or a late event with an older version, sends nothing: the next message is the next change.
    await services.live.resync()
    await services.bus.publish({"isbn": PCI, "available": 9, "version": 3})
    await services.bus.publish({"isbn": RESTFUL, "available": 3, "version": 2})
    assert await receive(socket) == {"type": "state", "isbn": RESTFUL, "available": 3, "version": 2}
    socket.close()


@pytest.mark.gen_test
async def test_a_closed_connection_leaves_the_feed(base_url, services):
    socket = await connect(base_url)
    subscribe(socket, [PCI])
    await receive(socket)
    assert len(services.live) == 1
    socket.close()
    await until(lambda: len(services.live) == 0, message="the closed connection still watches")


@pytest.mark.gen_test
async def test_a_client_that_does_not_read_costs_one_state_per_book():
    outbox = Outbox()
    outbox.watch([PCI, RESTFUL])
    for version in range(1, 1001):
        outbox.deliver({"isbn": PCI, "available": version % 12, "version": version})
    outbox.deliver({"isbn": RESTFUL, "available": 3, "version": 5})
    outbox.deliver({"isbn": PCI, "available": 1, "version": 999})  # late and stale
    assert await outbox.take() == ([], [
        {"isbn": PCI, "available": 1000 % 12, "version": 1000},
        {"isbn": RESTFUL, "available": 3, "version": 5},
    ])
    outbox.deliver({"isbn": PCI, "available": 5, "version": 900})  # older than what was sent
    outbox.notice("x")
    assert await outbox.take() == (["x"], [])
