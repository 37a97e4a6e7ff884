"""Attacks through Redis: one that hangs, forged events on the channel, passwords in URLs and logs.

The shops here are real processes on a real redis-server; "hung" is that
server stopped with SIGSTOP, which keeps its connections open and answers
nothing.
"""

import asyncio
import json

import pytest
import redis.asyncio as aioredis

from burts_books.infra.bus import RedisBus, Signatures
from burts_books.infra.config import Settings
from burts_books.infra.limits import Limits
from tests.constants import COOKIE_SECRET, PCI
from tests.redis_server import RedisServer
from tests.shop_client import ShopClient
from tests.shop_process import ShopProcess, run_cli
from tests.waiting import recorder, result_of, until
from tests.websocket_client import connect, receive, subscribe

CHANNEL = "burts_books:inventory"
# Long enough that a request waiting on the hung Redis would blow every wait in these tests.
SLOW_REDIS = "--redis-timeout-seconds=30"
ADDS = 10  # the most copies of one title a cart holds
VERSIONS = list(range(2, 2 + ADDS))  # the book's versions after each add (the seed's is 1)


@pytest.fixture
def shop(redis_server, tmp_path):
    with ShopProcess(tmp_path / "shop", f"--redis-url={redis_server.url}", f"--cookie-secret={COOKIE_SECRET}",
                     SLOW_REDIS) as shop:
        yield shop


async def watch(shop):
    """A WebSocket client of `shop` watching PCI, past its first state."""
    watcher = await connect(shop.url)
    subscribe(watcher, [PCI])
    assert (await receive(watcher))["version"] == 1
    return watcher


@pytest.mark.gen_test(timeout=30)
async def test_a_hung_redis_does_not_hold_up_the_shopper_and_the_changes_go_out_in_order(
        shop, redis_server, http_client):
    watcher = await watch(shop)
    listener = aioredis.Redis.from_url(redis_server.url).pubsub()
    await listener.subscribe(CHANNEL)
    assert (await listener.get_message(timeout=5))["type"] == "subscribe"
    shopper = ShopClient(http_client, shop.url)
    await shopper.xsrf_token()

    redis_server.pause()

    async def add_copies():
        return [await shopper.cart_json("add") for _ in range(ADDS)]

    # Ten adds in the time one bus call may wait for Redis; the limits give up on it once, for all of them.
    answers = await result_of(add_copies(), message="POST /cart waited for the hung Redis")
    assert [(answer.code, answer.json()["book"]["version"]) for answer in answers] == [
        (200, version) for version in VERSIONS]
    redis_server.resume()

    # Once Redis answers again, the changes cross it, in the order they were made.
    sent = []
    while len(sent) < ADDS:
        message = await listener.get_message(timeout=5)
        assert message is not None, "the changes never reached Redis"
        sent.append(json.loads(Signatures([COOKIE_SECRET]).verify(message["data"]))["version"])
    assert sent == VERSIONS
    # The page's feed sends the newest state of a book it has not sent yet, never an older one.
    seen = [await receive(watcher)]
    while seen[-1]["version"] < VERSIONS[-1]:
        seen.append(await receive(watcher))
    assert [state["version"] for state in seen] == sorted({state["version"] for state in seen})
    assert seen[-1]["available"] == 12 - ADDS
    watcher.close()
    await listener.aclose()


@pytest.mark.gen_test(timeout=30)
async def test_a_forged_sold_out_on_the_channel_reaches_no_page_while_a_genuine_change_does(
        shop, redis_server, http_client):
    watcher = await watch(shop)
    shopper = ShopClient(http_client, shop.url)
    poll = asyncio.ensure_future(shopper.poll((PCI, 1)))
    sold_out = json.dumps({"isbn": PCI, "available": 0, "version": 999_999_999}).encode()
    attacker = aioredis.Redis.from_url(redis_server.url)
    forgeries = [
        sold_out,  # unsigned
        Signatures(["another shop's cookie secret, not ours"]).sign(sold_out),  # signed with the wrong key
        b"0" * 64 + b"." + sold_out,  # a made-up signature
    ]
    for forged in forgeries * 20:
        assert await attacker.publish(CHANNEL, forged) == 1  # the shop's subscription got each one
    await attacker.aclose()

    # The genuine change crosses the same channel after the forgeries: by the time it arrives, they were dropped.
    assert (await shopper.cart_json("add")).code == 200
    assert await receive(watcher) == {"type": "state", "isbn": PCI, "available": 11, "version": 2}
    assert await poll == [{"isbn": PCI, "available": 11, "version": 2}]
    book = await shopper.get_json(f"/api/books/{PCI}")
    assert (book["available"], book["version"]) == (11, 2)
    # Logged, but one line for all 60 of them.
    assert shop.log().count("not signed by this shop") == 1
    watcher.close()


@pytest.mark.gen_test(timeout=20)
async def test_a_hung_redis_is_noticed_and_the_bus_resyncs_once_it_answers(redis_server, caplog):
    bus = RedisBus(redis_server.url, [COOKIE_SECRET], timeout=0.5)
    await bus.start()
    try:
        received, reconnects = recorder(bus), []
        bus.on_reconnect(lambda: reconnects.append("resync"))
        redis_server.pause()
        # The subscription looks idle until Redis is asked for a PING it never answers.
        await until(lambda: "no answer to PING within 0.5 s" in caplog.text)
        # A change made meanwhile waits out one timeout, then reaches this process's own subscribers.
        await bus.publish({"isbn": PCI, "available": 3, "version": 7})
        await until(lambda: received == [{"isbn": PCI, "available": 3, "version": 7}])

        redis_server.resume()
        await until(lambda: reconnects == ["resync"])
        await bus.publish({"isbn": PCI, "available": 2, "version": 8})
        await until(lambda: len(received) == 2)
        assert received[-1]["version"] == 8
    finally:
        await bus.stop()


PASSWORD = "a-redis-password-for-tests"


async def bus_delivers(url):
    """A bus on Redis at `url` gets an event published through it back."""
    bus = RedisBus(url, [COOKIE_SECRET])
    await bus.start()
    try:
        received = recorder(bus)
        await bus.publish({"isbn": PCI, "available": 3, "version": 7})
        await until(lambda: received == [{"isbn": PCI, "available": 3, "version": 7}])
    finally:
        await bus.stop()


@pytest.fixture
def redis_with_password(tmp_path):
    server = RedisServer(tmp_path, password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.mark.gen_test(timeout=20)
async def test_a_redis_that_wants_a_password_gets_it_from_the_url_which_logs_never_show(
        redis_with_password, tmp_path, caplog):
    await bus_delivers(redis_with_password.url)

    store = tmp_path / "store"
    store.mkdir()
    assert run_cli("migrate", data_dir=store).returncode == 0
    assert run_cli("check", f"--redis-url={redis_with_password.url}", data_dir=store).returncode == 0
    wrong = redis_with_password.url.replace(PASSWORD, "not-the-password")
    refused = run_cli("check", f"--redis-url={wrong}", data_dir=store)
    assert refused.returncode == 2 and "redis://:***@127.0.0.1" in refused.stderr
    unauthorized = RedisBus(wrong, [COOKIE_SECRET])
    await unauthorized.start()  # keeps trying in the background, and says so
    await unauthorized.stop()
    assert "Redis at redis://:***@127.0.0.1" in caplog.text
    limits = Limits(Settings(redis_url=wrong))
    await limits.hit(limits.cart_adds_per_address, "203.0.113.7")  # let through while Redis refuses, and said
    await limits.close()
    assert "limits: Redis at redis://:***@127.0.0.1" in caplog.text
    assert "not-the-password" not in caplog.text + refused.stderr + refused.stdout


@pytest.mark.gen_test(timeout=20)
async def test_the_bus_crosses_a_redis_that_speaks_only_tls(tmp_path):
    server = RedisServer(tmp_path, password=PASSWORD, tls=True)
    server.start()
    assert server.url.startswith(f"rediss://:{PASSWORD}@")
    try:
        await bus_delivers(server.url)
    finally:
        server.stop()
