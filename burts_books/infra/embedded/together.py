"""Writes together: the writes of one request go to the journal as they are made, and the
request waits once, at the end, until all of them are durable.

Each write is still made at once (reads see it, as before) and queued for the
journal in the order writes are made, so the journal stays the exact history
of memory and a crash still leaves a prefix of it. What changes is only
when the caller waits: once per request instead of once per write, which
cuts a cart add from several fdatasyncs in a row to the one group commit
that covers them. Whatever must not be seen before the writes are durable
(announcing a new stock count) waits for the end too (`when_durable`).

If the disk refuses, the group commit undoes every write not yet on disk
(newest first) and fails them; the request then makes no further write and
fails with StoreWriteFailed at the end, leaving what a crash would have left
at that point of the journal.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable

from .errors import StoreWriteFailed

Action = Callable[[], Awaitable[None]]


class Together:
    def __init__(self) -> None:
        self.writes: list[asyncio.Future[None]] = []
        self.after: list[Action] = []
        self.closed = False

    def check(self) -> None:
        """StoreWriteFailed if a write made earlier here was undone: no write may build on it."""
        for write in self.writes:
            if write.done() and write.exception() is not None:
                raise StoreWriteFailed() from write.exception()

    async def finish(self) -> None:
        """Wait until every write is durable, then run what waited for that; StoreWriteFailed if one failed."""
        self.closed = True
        # The journal makes writes durable in order and fails every write after one it could not
        # make durable, so the last write's outcome is every write's: waiting for it alone wakes the
        # request one loop iteration after the journal's answer (gather and shield each add one).
        if self.writes:
            try:
                await self.writes[-1]
            finally:
                # Read the others' outcomes too, or asyncio logs each failed one again when it is collected.
                for write in self.writes[:-1]:
                    if write.done() and not write.cancelled():
                        write.exception()
        for action in self.after:
            await action()


current: contextvars.ContextVar[Together | None] = contextvars.ContextVar("writes_together", default=None)


def open_together() -> Together | None:
    """The scope the running code writes in, if one is open."""
    together = current.get()
    return None if together is None or together.closed else together
