"""New orders, live for the staff list (no HTTP here): long polls that answer when an order arrives.

The list page knows the `seq` of the newest order it shows; a poll that
sends it answers at once when a newer order has been written, otherwise at
the next order event on the bus (placed or changed, in any process: Redis
carries them across) or at the timeout. Each answer gives the newest `seq`
now, so no order placed between two polls goes unnoticed. After a Redis
outage every waiting poll answers, and its page reloads the list.
"""

from __future__ import annotations

import asyncio

from .infra.bus import EventBus
from .orders import ORDER_EVENT, Orders


class OrderFeed:
    def __init__(self, bus: EventBus, orders: Orders):
        self.orders = orders
        self._waiters: set[asyncio.Future] = set()
        self.ended = False
        bus.subscribe(self._on_event)
        bus.on_reconnect(self._wake_all)

    def __len__(self) -> int:
        return len(self._waiters)

    def _on_event(self, event: dict) -> None:
        if event.get("kind") == ORDER_EVENT:
            self._wake_all()

    def _wake_all(self, changed: bool = True) -> None:
        for waiter in list(self._waiters):
            self.discard(waiter, changed)

    def end_all(self) -> None:
        """Shutting down: every poll answers now, and those that come later at once (their pages poll again,
        through nginx, another process)."""
        self.ended = True
        self._wake_all(changed=False)

    def waiter(self) -> asyncio.Future:
        """A place in line for the next order event; `wait` with it, `discard` it if the client goes."""
        waiter = asyncio.get_running_loop().create_future()
        if self.ended:
            waiter.set_result(False)
        else:
            self._waiters.add(waiter)
        return waiter

    def discard(self, waiter: asyncio.Future, changed: bool = False) -> None:
        """Out of line, and its wait ends now; `changed` says whether an order did."""
        self._waiters.discard(waiter)
        if not waiter.done():
            waiter.set_result(changed)

    async def wait(self, waiter: asyncio.Future, after: int, timeout: float) -> tuple[int, bool]:
        """The newest order's `seq` once it is past `after`, an order changes, or the wait ends otherwise
        (`timeout` seconds, shutdown, the client gone); and whether anything changed."""
        try:
            # In line before reading: an order written meanwhile wakes us rather than slipping between.
            newest = await self.orders.newest_seq()
            if newest > after:
                return newest, True
            try:
                changed = await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except TimeoutError:
                changed = False
            newest = await self.orders.newest_seq()
            return newest, changed or newest > after
        finally:
            self.discard(waiter)
