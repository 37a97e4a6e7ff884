"""What a long poll or a WebSocket holds in the server is let go when the client goes.

`make bench` soaks the server with thousands of connections and watches its RSS, which shows a
leak of what a connection holds (its handler: megabytes a round) but not one of a hundred bytes a
connection, which hides in the memory the dropped connections free. Here tracemalloc counts, line
by line, what is still allocated after rounds of polls and sockets opened, answered and dropped
(the clients run in the same process: what they keep would count too).
"""

import asyncio
import gc
import logging
import sys
import tracemalloc

import pytest

from tests.constants import ADDRESS, PCI
from tests.shop_client import raw_poll
from tests.waiting import until
from tests.websocket_client import connect, receive, subscribe

CONNECTIONS = 100  # of each kind, a round
ROUNDS = 5  # measured, after two that fill the first-use caches
# Allowed over all measured rounds, whatever their number: about 7 KB stay, the timers of polls
# answered or dropped that asyncio keeps, cancelled, until it sweeps its heap. A hundred bytes
# kept per watcher read 176 KB here, and 4 KB kept per watcher 6.2 MB.
MOST_BYTES_KEPT = 32 * 1024


class LiveClients:
    """Opens and drops the clients of one round, and changes the watched book's stock."""

    def __init__(self, base_url, services):
        self.base_url, self.services = base_url, services
        self.cart = None

    async def change(self):
        # A cart taking a copy and giving it back in turn: the same cart and book documents, every round.
        if self.cart is None or not self.cart.quantity(PCI):
            self.cart, _ = await self.services.carts.add(self.cart, None, PCI, ADDRESS)
        else:
            self.cart, _ = await self.services.carts.remove(self.cart, PCI)

    async def poll(self):
        return await raw_poll(self.base_url, (PCI, (await self.services.inventory.state(PCI))["version"]))

    async def one_round(self):
        """Polls answered by a change, then polls dropped unanswered; sockets given a change, then closed."""
        live = self.services.live
        sockets = [await connect(self.base_url) for _ in range(CONNECTIONS)]
        for socket in sockets:
            subscribe(socket, [PCI])
            await receive(socket)
        answered = [await self.poll() for _ in range(CONNECTIONS // 2)]
        await until(lambda: len(live) == CONNECTIONS + len(answered))
        await self.change()
        for reader, writer in answered:
            assert b" 200 OK" in await reader.readuntil(b"\r\n\r\n")
            writer.close()
        for socket in sockets:
            await receive(socket)
            socket.close()
        dropped = [await self.poll() for _ in range(CONNECTIONS // 2)]
        await until(lambda: len(live) == len(dropped))
        for _, writer in dropped:
            writer.close()
        await until(lambda: len(live) == 0, message="closed connections still watch")
        await asyncio.sleep(0.05)  # the server's side of each closed connection is torn down


def allocated() -> tracemalloc.Snapshot:
    gc.collect()
    # CPython's attribute cache keeps the last names looked up (a method name per request).
    sys._clear_type_cache()
    return tracemalloc.take_snapshot()


def blocks_kept(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> list[tracemalloc.StatisticDiff]:
    """What each line allocated and still holds, less what it has freed, leaving out lines whose count of
    blocks moved by less than one a round: a hash table resized, up or down, as connections come and go
    (the event loop's, the live feed's, asyncio's WeakSet of tasks: two blocks of 32 KB now and then)
    is a block or two for others. What is kept per connection is a block each: hundreds here."""
    return [stat for stat in after.compare_to(before, "lineno") if stat.size_diff and abs(stat.count_diff) >= ROUNDS]


@pytest.mark.settings(max_live_per_address=1000, long_poll_timeout_seconds=3600.0)
@pytest.mark.gen_test(timeout=120)
async def test_connections_opened_answered_and_dropped_leave_nothing_behind(http_server, base_url, services,
                                                                            monkeypatch):
    # pytest keeps every log record of a test for its report: that is not the server keeping them.
    # The access lines are still made (at whatever level the suite logs), and dropped.
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])
    clients = LiveClients(base_url, services)
    for _ in range(2):
        await clients.one_round()
    tracemalloc.start()
    try:
        before = allocated()
        for _ in range(ROUNDS):
            await clients.one_round()
        after = allocated()
    finally:
        tracemalloc.stop()
    kept = blocks_kept(before, after)
    total = sum(stat.size_diff for stat in kept)
    assert total <= MOST_BYTES_KEPT, f"{total:,} bytes kept after {ROUNDS * 2 * CONNECTIONS} connections:\n" + \
        "\n".join(str(stat) for stat in kept[:10])
