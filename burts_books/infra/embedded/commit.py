"""Group commit: a write returns once its journal record is on disk, and writes share fdatasyncs.

The records of all writes made while the journal thread is busy, or in the
same event-loop iteration, go to disk in one append and one fdatasync, in
the journal's own thread so the event loop never waits on the disk. If the
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
    def __init__(self, writer: JournalWriter):
        self.writer = writer  # used in the journal thread only, once handed over
        self.syncs = 0  # appends made durable, each with one fdatasync
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._queue: list[_Waiting] = []
        self._task: asyncio.Task | None = None

    def submit(self, record: bytes, undo: Callable[[], None]) -> asyncio.Future[None]:
        """Queue `record` now, behind every write made before it; the future is done once it is
        durable, or fails with StoreWriteFailed once it and every later write are undone."""
        waiting = _Waiting(frame(record), undo, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._task is None:
            # Starts next iteration: every write of this one joins the batch.
            self._task = asyncio.ensure_future(self._drain())
        return waiting.done

    async def commit(self, record: bytes, undo: Callable[[], None]) -> None:
        """Return once `record` is durable; undo (with every later write) and raise StoreWriteFailed if it can't be."""
        # A caller that gives up waiting does not cancel the write.
        await asyncio.shield(self.submit(record, undo))

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self.in_thread(self._append, b"".join(waiting.frame for waiting in batch))
            except OSError as error:
                failed, self._queue = batch + self._queue, []
                log.error("the embedded store's journal could not be written (%s); %d writes undone",
                          error, len(failed))
                for waiting in reversed(failed):
                    waiting.undo()
                for waiting in failed:
                    failure = StoreWriteFailed()
                    failure.__cause__ = error
                    waiting.done.set_exception(failure)
            else:
                self.syncs += 1
                for waiting in batch:
                    waiting.done.set_result(None)
        self._task = None

    def _append(self, data: bytes) -> None:
        self.writer.append(data)

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
        if self._task is not None:
            await self._task
        await self.in_thread(self.writer.close)
        self._thread.shutdown()
