import asyncio
import contextlib
import json
import logging

import pytest
import redis.asyncio as aioredis

from burts_books.infra.bus import InProcessBus, RedisBus, Signatures, make_bus
from tests.constants import COOKIE_SECRET, PCI
from tests.waiting import recorder, until


@contextlib.asynccontextmanager
async def started(*buses):
    for bus in buses:
        await bus.start()
    try:
        yield buses
    finally:
        for bus in buses:
            await bus.stop()


def event(version, isbn=PCI):
    return {"isbn": isbn, "available": 4, "version": version}


def test_make_bus():
    assert isinstance(make_bus(None), InProcessBus)
    assert isinstance(make_bus(""), InProcessBus)
    assert isinstance(make_bus("redis://127.0.0.1:1/0", [COOKIE_SECRET]), RedisBus)


@pytest.mark.gen_test
async def test_in_process_delivers_in_order():
    bus = InProcessBus()
    async with started(bus):
        first, second = recorder(bus), recorder(bus)
        await bus.publish(event(1))
        await bus.publish(event(2))
        await until(lambda: len(first) == 2 and len(second) == 2)
        assert first == second == [event(1), event(2)]


@pytest.mark.gen_test
async def test_in_process_unsubscribe():
    bus = InProcessBus()
    kept, dropped = [], []
    bus.subscribe(kept.append)
    unsubscribe = bus.subscribe(dropped.append)
    unsubscribe()
    unsubscribe()  # idempotent
    await bus.publish(event(1))
    await until(lambda: kept)
    assert dropped == []


@pytest.mark.gen_test
async def test_raising_subscriber_does_not_block_others(caplog):
    bus = InProcessBus()

    def broken(_event):
        raise RuntimeError("boom")

    before = recorder(bus)
    bus.subscribe(broken)
    after = recorder(bus)
    await bus.publish(event(1))
    await bus.publish(event(2))
    await until(lambda: len(after) == 2)
    assert before == after == [event(1), event(2)]
    assert "boom" in caplog.text


@pytest.mark.gen_test(timeout=10)
async def test_redis_event_reaches_every_process_once(redis_server):
    a, b = RedisBus(redis_server.url, [COOKIE_SECRET]), RedisBus(redis_server.url, [COOKIE_SECRET])
    async with started(a, b):
        on_a, on_b = recorder(a), recorder(b)
        await a.publish(event(1))
        # Redis keeps order, so once the marker arrives any duplicate of the
        # first event would have arrived too.
        await a.publish(event(2))
        await until(lambda: len(on_a) >= 2 and len(on_b) >= 2)
        assert on_a == on_b == [event(1), event(2)]


@pytest.mark.gen_test(timeout=10)
async def test_redis_restart(redis_server, caplog):
    a, b = RedisBus(redis_server.url, [COOKIE_SECRET]), RedisBus(redis_server.url, [COOKIE_SECRET])
    async with started(a, b):
        on_a, on_b = recorder(a), recorder(b)
        reconnects = {"a": 0, "b": 0}
        a.on_reconnect(lambda: reconnects.__setitem__("a", reconnects["a"] + 1))
        b.on_reconnect(lambda: reconnects.__setitem__("b", reconnects["b"] + 1))

        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger="burts_books.infra.bus"):
            await a.publish(event(1))  # must not raise
            await until(lambda: on_a == [event(1)])
        assert "delivering locally" in caplog.text
        await until(lambda: caplog.text.count("lost Redis subscription") == 2)

        redis_server.start()
        await until(lambda: min(reconnects.values()) >= 1)
        await a.publish(event(2))
        await a.publish(event(3))
        await until(lambda: len(on_a) >= 3 and len(on_b) >= 2)
        assert on_a == [event(1), event(2), event(3)]
        assert on_b == [event(2), event(3)]  # event 1 is B's to resync


@pytest.mark.gen_test(timeout=20)
async def test_events_lost_while_redis_hung_make_every_process_resync(redis_server):
    a, b = RedisBus(redis_server.url, [COOKIE_SECRET], timeout=1.0), RedisBus(redis_server.url, [COOKIE_SECRET],
                                                                             timeout=1.0)
    async with started(a, b):
        on_b = recorder(b)
        resyncs = []
        b.on_reconnect(lambda: resyncs.append("b"))
        await a.publish(event(1))
        await until(lambda: on_b == [event(1)])  # B heard from Redis just now: its subscription waits a while
        redis_server.pause()
        await a.publish(event(2))  # its PUBLISH times out after a second
        await asyncio.sleep(0.5)
        await a.publish(event(3))  # queued behind it: delivered to A only
        await asyncio.sleep(1.0)
        redis_server.resume()  # before B's subscription gives up on Redis

        await until(lambda: resyncs, message="B never learned that it missed an event")
        assert event(3) not in on_b


@pytest.mark.gen_test(timeout=10)
async def test_start_without_redis(redis_server):
    redis_server.stop()
    a, b = RedisBus(redis_server.url, [COOKIE_SECRET]), RedisBus(redis_server.url, [COOKIE_SECRET])
    async with started(a, b):  # must not raise
        on_a, on_b = recorder(a), recorder(b)
        reconnects = []
        a.on_reconnect(lambda: reconnects.append("a"))
        b.on_reconnect(lambda: reconnects.append("b"))
        await a.publish(event(1))
        await until(lambda: on_a == [event(1)])

        redis_server.start()
        await until(lambda: {"a", "b"} <= set(reconnects))
        await b.publish(event(2))
        await until(lambda: len(on_a) == 2 and len(on_b) == 1)
        assert on_a == [event(1), event(2)]
        assert on_b == [event(2)]


@pytest.mark.gen_test(timeout=10)
async def test_malformed_message_is_skipped(redis_server, caplog):
    bus = RedisBus(redis_server.url, [COOKIE_SECRET])
    raw = aioredis.Redis.from_url(redis_server.url)
    signatures = Signatures([COOKIE_SECRET])  # signed as the shop signs: only the content is wrong
    async with started(bus):
        received = recorder(bus)
        for junk in (b"not json", b"[1, 2]", b"\xff\xfe"):
            await raw.publish(bus.channel, signatures.sign(junk))
        await raw.publish(bus.channel, signatures.sign(b'{"isbn": "x", "available": 0, "version": 3}'))
        await until(lambda: received)
        assert received == [{"isbn": "x", "available": 0, "version": 3}]
        assert caplog.text.count("malformed inventory event") == 3
    await raw.aclose()


async def bus_connections(raw):
    """How many connections Redis has besides `raw`'s own: the bus's."""
    own = await raw.client_id()
    return len([client for client in await raw.client_list() if int(client["id"]) != own])


@pytest.mark.gen_test(timeout=10)
async def test_stop_is_idempotent(redis_server):
    raw = aioredis.Redis.from_url(redis_server.url)
    bus = RedisBus(redis_server.url, [COOKIE_SECRET])
    await bus.stop()  # never started: nothing to let go of, and no harm done

    async with started(bus):  # ...so it still starts and delivers
        received = recorder(bus)
        assert await raw.pubsub_numsub(bus.channel) == [(bus.channel.encode(), 1)]
        await bus.publish(event(1))
        await until(lambda: received == [event(1)])
        assert await bus_connections(raw) == 2  # one to publish, one to listen

    await bus.stop()  # stopped twice more: no error
    await bus.stop()
    assert await raw.pubsub_numsub(bus.channel) == [(bus.channel.encode(), 0)]
    assert await raw.publish(bus.channel, json.dumps(event(2))) == 0  # no one hears it any more

    async def disconnected():
        return await bus_connections(raw) == 0

    await until(disconnected, message="the stopped bus kept a connection to Redis")
    assert received == [event(1)]
    await raw.aclose()
