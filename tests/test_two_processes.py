"""Two real shop processes share inventory events through a real Redis.

There is no MongoDB server on this machine, so each process runs on its own
embedded store (its own data dir), seeded identically by the migrations: the
same ISBNs start at the same versions. What crosses between the processes
here is therefore exactly what Redis carries, the inventory events.
"""

import asyncio

import pytest

from tests.constants import COOKIE_SECRET, PCI
from tests.shop_client import ShopClient
from tests.shop_process import ShopProcess
from tests.waiting import until
from tests.websocket_client import connect, receive, subscribe


@pytest.fixture
def shops(redis_server, tmp_path):
    flags = (f"--redis-url={redis_server.url}", f"--cookie-secret={COOKIE_SECRET}")
    with ShopProcess(tmp_path / "a", *flags) as a, ShopProcess(tmp_path / "b", *flags) as b:
        yield a, b


@pytest.mark.gen_test(timeout=40)
async def test_changes_on_one_process_reach_the_other_even_across_a_redis_restart(shops, redis_server, http_client):
    a, b = shops
    shopper = ShopClient(http_client, a.url)
    watcher = await connect(b.url)
    subscribe(watcher, [PCI])
    assert await receive(watcher) == {"type": "state", "isbn": PCI, "available": 12, "version": 1}

    # A WebSocket client on B sees an add made on A.
    assert (await shopper.cart_json("add")).code == 200
    assert await receive(watcher) == {"type": "state", "isbn": PCI, "available": 11, "version": 2}

    # A long poll on B is answered by a change on A.
    poll = asyncio.ensure_future(ShopClient(http_client, b.url).poll((PCI, 2)))
    await asyncio.sleep(0.3)
    assert not poll.done()
    assert (await shopper.cart_json("add")).code == 200
    assert await poll == [{"isbn": PCI, "available": 10, "version": 3}]
    assert (await receive(watcher))["version"] == 3

    # Redis goes away: both processes keep serving, and say so in their logs.
    redis_server.stop()
    assert (await shopper.cart_json("remove")).code == 200
    assert (await ShopClient(http_client, b.url).get(f"/books/{PCI}")).code == 200
    await until(lambda: "lost Redis subscription" in a.log() and "lost Redis subscription" in b.log())

    # Redis comes back: once both have resubscribed, the feed resumes.
    redis_server.start()
    await until(lambda: "re-established" in a.log() and "re-established" in b.log(), timeout=10)
    assert (await shopper.cart_json("add")).code == 200
    assert await receive(watcher) == {"type": "state", "isbn": PCI, "available": 10, "version": 5}
    watcher.close()
