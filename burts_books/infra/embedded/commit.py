"""Group commit: a write returns once its journal record is on disk, and writes share fdatasyncs.

Writes queue their records; the queue goes to disk in one append and one
fdatasync, in the journal's own thread so the event loop never waits on the
disk, as soon as one of its writers waits for it (or at the next event-loop
iteration). Writes made while the thread is busy share the next batch. If the
disk refuses, every write not yet on disk is undone, newest first, and
raises StoreWriteFailed: later writes may have built on earlier ones, so
none of them is kept. (Reads see a write as soon as it is made, before it
is acknowledged, as they do on a MongoDB server.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from .errors import StoreWriteFailed
from .files import create_file
from .frames import frame
from .journal import JournalWriter

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclasses.dataclass
class _Waiting:
    frame: bytes
    undo: Callable[[], None]
    done: asyncio.Future


class GroupCommit:
    """Each future `submit` returns is resolved from the journal thread's answer in the loop
    iteration that answer arrives, with nothing chained in between: under load each hop between
    callbacks waits for a whole iteration of other requests' work."""

    def __init__(self, writer: JournalWriter):
        self.writer = writer  # used in the journal thread only, once handed over
        self.syncs = 0  # appends made durable, each with one fdatasync
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        # Not yet sent; while the thread is idle, a `hurry` is due for it, next iteration at the latest.
        self._queue: list[_Waiting] = []
        self._writing = False  # a batch is in the journal thread
        # `last_write`'s futures: done with the batch of the writes queued, with the one in the thread.
        self._after_queued: list[asyncio.Future[None]] = []
        self._after_batch: list[asyncio.Future[None]] = []
        self._idle: list[asyncio.Future[None]] = []  # close() waiting for the last batch

    def submit(self, record: bytes, undo: Callable[[], None]) -> asyncio.Future[None]:
        """Queue `record` now, behind every write made before it; the future is done once it is
        durable, or fails with StoreWriteFailed once it and every later write are undone.
        Cancelling the future does not cancel the write."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(frame(record), undo, loop.create_future())
        self._queue.append(waiting)
        if len(self._queue) == 1 and not self._writing:
            # Next iteration: every write of this one joins the batch.
            loop.call_soon(self.hurry)
        return waiting.done

    def last_write(self) -> asyncio.Future[None] | None:
        """For a write that journals nothing: a future done once every write made before it is
        durable (failed with StoreWriteFailed if they were undone), or None if they already are,
        so that it adds no fdatasync of its own."""
        if self._queue:
            after = self._after_queued
        elif self._writing:
            after = self._after_batch
        else:
            return None
        done = asyncio.get_running_loop().create_future()
        after.append(done)
        return done

    def hurry(self) -> None:
        """A writer waits for its writes: they go now, if the journal thread is idle, rather than
        after every other callback of this loop iteration (a millisecond of other requests' work
        under load). The writes of this iteration made after it go in the next batch."""
        if self._queue and not self._writing:
            self._write_queued()

    def _write_queued(self) -> None:
        self._writing = True
        batch, self._queue = self._queue, []
        self._after_batch, self._after_queued = self._after_queued, []
        self._thread.submit(self._append, asyncio.get_running_loop(), batch,
                            b"".join(waiting.frame for waiting in batch))

    def _append(self, loop: asyncio.AbstractEventLoop, batch: list[_Waiting], data: bytes) -> None:
        """In the journal thread."""
        try:
            self.writer.append(data)
        except Exception as error:  # OSError: the disk refused; anything else must not hang every write
            loop.call_soon_threadsafe(self._failed, batch, error)
        else:
            loop.call_soon_threadsafe(self._written, batch)

    def _written(self, batch: list[_Waiting]) -> None:
        self.syncs += 1
        for done in [waiting.done for waiting in batch] + self._after_batch:
            if not done.done():
                done.set_result(None)
        self._after_batch = []
        self._next()

    def _failed(self, batch: list[_Waiting], error: Exception) -> None:
        failed, self._queue = batch + self._queue, []
        # The error as text: a log record that kept the exception would keep the batch alive by its traceback.
        log.error("the embedded store's journal could not be written (%s); %d writes undone", str(error), len(failed))
        for waiting in reversed(failed):
            waiting.undo()
        waiters = [waiting.done for waiting in failed] + self._after_batch + self._after_queued
        self._after_batch, self._after_queued = [], []
        for done in waiters:
            if not done.done():
                failure = StoreWriteFailed()
                failure.__cause__ = error
                done.set_exception(failure)
        self._next()

    def _next(self) -> None:
        """Writes queued while the batch was on its way go at once, as the next batch."""
        if self._queue:
            self._write_queued()
            return
        self._writing = False
        for idle in self._idle:
            idle.set_result(None)
        self._idle.clear()

    async def in_thread(self, function: Callable[..., T], *args) -> T:
        """Run in the journal thread, after what is already queued there."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    async def start_segment(self, path: Path) -> None:
        """Append to a new segment from now on; the one before ends with its last intact record."""
        await self.in_thread(self._switch, path)

    def _switch(self, path: Path) -> None:
        self.writer.seal()
        old, self.writer = self.writer, JournalWriter(create_file(path))
        old.close()

    async def close(self) -> None:
        self.hurry()
        if self._writing:
            idle = asyncio.get_running_loop().create_future()
            self._idle.append(idle)
            await idle
        await self.in_thread(self.writer.close)
        self._thread.shutdown()
