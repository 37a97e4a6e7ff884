"""The WebSocket feed at /cart/status/ws: current state on subscribe, then every change."""

import asyncio
import gc
import json
import socket as sockets
import urllib.parse

import pytest
import tornado.httpclient
from tornado.iostream import IOStream

from burts_books.live import Outbox, collector_paused
from burts_books.web.live import state_frame, write_now
from tests.constants import PCI, RESTFUL, UNKNOWN_ISBN
from tests.waiting import WAIT_TIMEOUT, until
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


PING, CLOSE = 0x9, 0x8  # WebSocket opcodes


async def silent_feed_client(base_url):
    """A feed connection whose client reads but never answers a ping: a bare socket, where
    WebSocket clients (browsers, Tornado's) answer pings by themselves."""
    port = urllib.parse.urlsplit(base_url).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /cart/status/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n" % port)
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    return reader, writer


async def next_frame(reader):
    """(opcode, payload) of the next frame from the server: unmasked, and short as control frames are."""
    first, second = await asyncio.wait_for(reader.readexactly(2), WAIT_TIMEOUT)
    return first & 0x0F, await reader.readexactly(second & 0x7F)


@pytest.mark.settings(websocket_ping_seconds=0.2)
@pytest.mark.gen_test(timeout=15)
async def test_a_connection_that_stops_answering_pings_is_closed_and_one_that_answers_stays(base_url, client):
    answering = await connect(base_url)
    subscribe(answering, [PCI])
    await receive(answering)
    reader, writer = await silent_feed_client(base_url)

    assert await next_frame(reader) == (PING, b"")
    opcode, payload = await next_frame(reader)  # the next round finds the ping unanswered
    assert opcode == CLOSE and payload[2:] == b"ping timed out"
    # The answering connection went through the same rounds and still gets every change.
    await client.cart_json("add")
    assert await receive(answering) == {"type": "state", "isbn": PCI, "available": 11, "version": 2}
    writer.close()
    answering.close()


@pytest.mark.gen_test
async def test_a_closed_connection_leaves_the_feed(base_url, services):
    socket = await connect(base_url)
    subscribe(socket, [PCI])
    await receive(socket)
    assert len(services.live) == 1
    socket.close()
    await until(lambda: len(services.live) == 0, message="the closed connection still watches")


def test_a_client_that_does_not_read_costs_one_state_per_book():
    outbox = Outbox()
    outbox.watch([PCI, RESTFUL])
    for version in range(1, 1001):
        outbox.deliver({"isbn": PCI, "available": version % 12, "version": version})
    outbox.deliver({"isbn": RESTFUL, "available": 3, "version": 5})
    outbox.deliver({"isbn": PCI, "available": 1, "version": 999})  # late and stale
    assert outbox.take() == ([], [
        {"isbn": PCI, "available": 1000 % 12, "version": 1000},
        {"isbn": RESTFUL, "available": 3, "version": 5},
    ])
    outbox.deliver({"isbn": PCI, "available": 5, "version": 900})  # older than what was sent
    outbox.notice("x")
    assert outbox.take() == (["x"], [])


def test_states_go_straight_out_until_the_connection_is_busy_then_wait_in_order():
    sent, wakes, busy = [], [], [False]

    def send_now(state):
        if busy[0]:
            return False
        sent.append(state["version"])
        return True

    outbox = Outbox(lambda: wakes.append(1), send_now)
    outbox.watch([PCI])
    outbox.deliver({"isbn": PCI, "available": 9, "version": 1})
    assert sent == [1] and not wakes and outbox.take() == ([], [])
    outbox.deliver({"isbn": PCI, "available": 9, "version": 1})  # already sent
    busy[0] = True
    outbox.deliver({"isbn": PCI, "available": 8, "version": 2})
    busy[0] = False
    # Version 2 waits to be taken: version 3 must not overtake it on the wire.
    outbox.deliver({"isbn": PCI, "available": 7, "version": 3})
    assert sent == [1] and wakes
    assert outbox.take() == ([], [{"isbn": PCI, "available": 7, "version": 3}])


@pytest.mark.parametrize("extra", [0, 300, 70_000])
def test_a_state_frame_carries_the_state_message_whatever_its_length(extra):
    state = {"isbn": PCI, "available": 3, "version": 7, **({"note": "x" * extra} if extra else {})}
    frame = state_frame(state)
    assert frame[0] == 0x81  # final text frame
    size, start = frame[1], 2
    if size == 126:
        size, start = int.from_bytes(frame[2:4], "big"), 4
    elif size == 127:
        size, start = int.from_bytes(frame[2:10], "big"), 10
    assert size == len(frame) - start
    assert json.loads(frame[start:]) == {"type": "state", **state}
    assert state_frame(state) is frame  # built once for every subscriber of one change


def test_a_fan_out_leaves_the_garbage_collector_as_it_found_it():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


async def read_all(reader: sockets.socket, size: int) -> bytes:
    """`size` bytes from `reader`, or what came before WAIT_TIMEOUT."""
    received, deadline = b"", asyncio.get_running_loop().time() + WAIT_TIMEOUT
    while len(received) < size and asyncio.get_running_loop().time() < deadline:
        try:
            received += reader.recv(1 << 20)
        except BlockingIOError:
            await asyncio.sleep(0.01)
    return received


@pytest.mark.gen_test
async def test_what_the_socket_does_not_take_at_once_follows_in_order():
    ours, theirs = sockets.socketpair()
    theirs.setblocking(False)
    stream = IOStream(ours)
    big = bytes(range(256)) * 16_384  # 4 MiB: more than a socket's buffer takes at once
    write_now(stream, big)
    assert stream.writing()  # the rest waits in the stream
    first = theirs.recv(65_536)  # the socket has room again, before the stream sends the rest
    write_now(stream, b"after")  # and what is written meanwhile goes out after that rest
    assert first + await read_all(theirs, len(big) + 5 - len(first)) == big + b"after"
    write_now(stream, b"small")
    assert not stream.writing()  # taken whole by the socket
    assert await read_all(theirs, 5) == b"small"
    stream.close()
    theirs.close()


@pytest.mark.gen_test
async def test_writing_to_a_peer_that_has_gone_closes_the_stream():
    ours, theirs = sockets.socketpair()
    stream = IOStream(ours)
    closed = asyncio.Event()
    stream.set_close_callback(closed.set)
    theirs.close()
    write_now(stream, b"state")
    await asyncio.wait_for(closed.wait(), WAIT_TIMEOUT)
    assert stream.closed()
