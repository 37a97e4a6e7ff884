"""The embedded store: its data read from disk at start, and every write journaled before it returns.

Opening takes the lock, imports a legacy `embedded-store.json` if that is all
there is, reads the snapshot, replays the journal segments after it (a
record cut short at the end of the last one is dropped with a warning; one
with intact records after it is damage, and stops the start), loads the
result into the engine at once, and appends to the last segment
from then on. When that segment outgrows the snapshot, a new segment starts
and a subprocess folds the sealed ones into a new snapshot (compaction.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from mongomock_motor import AsyncMongoMockDatabase

from ..slices import in_slices
from .changes import ChangeSet
from .commit import GroupCommit
from .engine import Engine, compiled, copied
from .errors import StoreDamaged
from .files import FILE_MODE, FOLDER_MODE, create_file
from .journal import JournalWriter, replay, segment_numbers, segment_path
from .journaled import JournaledDatabase
from .legacy import read_legacy_store
from .lock import StoreLock
from .records import State, document_key
from .snapshot import read_snapshot, snapshot_path, write_snapshot
from .together import Together, current, open_together

log = logging.getLogger(__name__)


class CompactionFailed(Exception):
    """The compaction subprocess gave up; its message says why. The journal still holds everything."""


class EmbeddedStore:
    def __init__(self, database_name: str, compact_at_least: int):
        """`compact_at_least`: journal bytes that start a compaction, or the snapshot's size if bigger.

        Start-up then replays at most about a snapshot's worth of journal, and
        compaction's cost stays in proportion to the writes.
        """
        self.engine = Engine(database_name)
        self.folder: Path | None = None  # None: in memory only
        self.journal: GroupCommit | None = None
        self.compact_at_least = compact_at_least
        self._compact_after = compact_at_least
        self._segment = 0  # the journal segment being appended to
        self._lock: StoreLock | None = None
        self._compaction: asyncio.Task | None = None

    async def scan(self, collection: str, fields: tuple[str, ...] | None = None,
                   criteria: dict | None = None) -> AsyncIterator[dict]:
        """The documents of `collection` matching `criteria`, only `fields` (None: all but `_id`)
        and copied, a slice at a time (what the caller does with each document included). mongomock
        would test the filter on, and copy, all of them in one go: seconds at 20,000 books, every
        request waiting."""
        # dict's own values(): an OrderedDict's look each key up again, hashing 20,000 ObjectIds in one go
        # (20 ms). No order is promised, and no document is moved once stored, so it is the same anyway.
        documents = list(dict.values(self.engine.database_store[collection].documents_by_key))
        matches = compiled(criteria) if criteria else None
        async for document in in_slices(documents):
            if matches is not None and not matches(document):
                continue
            names = fields if fields is not None else [name for name in document if name != "_id"]
            yield {name: copied(document[name]) for name in names if name in document}

    def build_indexes(self) -> None:
        """Build the hash indexes queries will use (see HashIndexes.build_all): a running shop's
        start-up, before it takes requests."""
        started = time.monotonic()
        collections = self.engine.database_store
        built = sum(collections[name].hash_indexes.build_all(collections[name].documents_by_key)
                    for name in collections.list_created_collection_names())
        log.info("embedded store: %d indexes built in %.0f ms", built, (time.monotonic() - started) * 1000)

    def version(self, collection: str, _id: Any) -> int:
        """A number that changes whenever the document changes (EngineCollectionStore.version)."""
        return self.engine.database_store[collection].version(document_key(_id))

    def database(self, motor_database: AsyncMongoMockDatabase) -> JournaledDatabase:
        """The Motor database to hand out; `motor_database` must be a client's on `engine.server_store`."""
        return JournaledDatabase(motor_database, self)

    def open(self, folder: Path) -> None:
        """Take ownership of the store in `folder` and load it (start-up: the loop has nothing else to do)."""
        folder.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)  # a new data folder: owner-only too
        lock = StoreLock(folder.with_suffix(".lock"), folder)
        lock.acquire()
        try:
            self._load(folder)
        except BaseException:
            lock.release()
            raise
        self._lock = lock
        self.folder = folder

    def _load(self, folder: Path) -> None:
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        folder.chmod(FOLDER_MODE)
        snapshot = snapshot_path(folder)
        snapshot.with_name(snapshot.name + ".tmp").unlink(missing_ok=True)  # a compaction cut short
        legacy = folder.with_suffix(".json")
        if not snapshot.exists() and not segment_numbers(folder) and legacy.exists():
            self._import(legacy, snapshot)
        state: State
        state, through = read_snapshot(snapshot) if snapshot.exists() else ({}, 0)
        numbers = []
        for number in segment_numbers(folder):
            if number <= through:  # folded into the snapshot by a compaction cut short before deleting it
                segment_path(folder, number).unlink()
            else:
                numbers.append(number)
        if numbers != list(range(through + 1, through + 1 + len(numbers))):
            missing = next(n for n in range(through + 1, numbers[-1]) if n not in numbers)
            raise StoreDamaged.file(segment_path(folder, missing), "missing")
        for number in numbers:
            path = segment_path(folder, number)
            intact, size = replay(state, path, last=number == numbers[-1])
            if intact < size:
                log.warning("%s ends in a record cut short (%d bytes at byte %d), most likely by a crash "
                            "while it was written, so never acknowledged; dropped it", path, size - intact, intact)
                with open(path, "r+b") as segment:
                    segment.truncate(intact)
                    os.fsync(segment.fileno())
        if not numbers:
            numbers = [through + 1]
            os.close(create_file(segment_path(folder, numbers[0])))
        self.engine.load(state)
        self._segment = numbers[-1]
        if snapshot.exists():
            self._compact_after = max(self.compact_at_least, snapshot.stat().st_size)
        self.start_journal(JournalWriter.open(segment_path(folder, self._segment)))

    def _import(self, legacy: Path, snapshot: Path) -> None:
        write_snapshot(snapshot, read_legacy_store(legacy), through=0)
        kept = legacy.with_name(legacy.name + ".imported")
        legacy.rename(kept)
        kept.chmod(FILE_MODE)
        log.warning("imported the embedded store from %s into %s; the old file is kept as %s "
                    "(delete it once you no longer need it)", legacy, legacy.with_suffix(""), kept)

    @property
    def journal_bytes(self) -> int:
        """The journal written since the last compaction began (it folds the journal into the snapshot)."""
        return self.journal.writer.durable if self.journal is not None else 0

    def start_journal(self, writer: JournalWriter) -> None:
        self.journal = GroupCommit(writer)

    def submit(self, changes: ChangeSet) -> asyncio.Future[None] | None:
        """Queue what a write changed for the journal now, in the order writes are made; the future
        is done once it is on disk (None: nothing to journal). Undoes it and raises if it can't be journaled."""
        try:
            record = changes.record()
        except Exception:  # a value BSON can't hold: a server would have refused the write
            changes.undo()
            raise
        if record is None or self.journal is None:
            return None
        return self.journal.submit(record, changes.undo)

    async def make_durable(self, changes: ChangeSet) -> None:
        """Return once what a write changed is on disk (inside `writes_together`, at its end);
        undo it and raise if it can't be.

        A write that changed nothing (or raised) waits for the writes made before it, as on a
        MongoDB server: what it answers (a match, a duplicate key) may rest on one not yet durable.
        """
        together = open_together()
        durable = self.submit(changes)
        if durable is None and self.journal is not None:
            durable = self.journal.last_write()
        if durable is None:
            return
        if together is not None:
            together.writes.append(durable)
            return
        self._hurry()
        await durable
        self._compact_if_due()

    def _hurry(self) -> None:
        """The caller waits for its writes now: to the disk with them (GroupCommit.hurry)."""
        if self.journal is not None:
            self.journal.hurry()

    def before_write(self) -> None:
        """StoreWriteFailed if this request's earlier write was undone (writes_together): none may build on it."""
        together = open_together()
        if together is not None:
            together.check()

    @contextlib.asynccontextmanager
    async def writes_together(self) -> AsyncIterator[None]:
        """Writes inside are journaled as they are made and waited for once, at the end (together.py)."""
        if open_together() is not None:  # inside another: that one waits
            yield
            return
        together = Together()
        token = current.set(together)
        try:
            yield
        finally:
            current.reset(token)
            self._hurry()
            await together.finish()
            self._compact_if_due()

    async def when_durable(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` once the writes made so far are durable: now, or at the end of `writes_together`."""
        together = open_together()
        if together is None:
            await action()
        else:
            together.after.append(action)

    def _compact_if_due(self) -> None:
        if (self.folder is not None and self.journal is not None and self._compaction is None
                and self.journal.writer.durable > self._compact_after):
            self._compaction = asyncio.ensure_future(self._compact_in_background())

    async def _compact_in_background(self) -> None:
        try:
            await self.compact()
        except (OSError, CompactionFailed) as error:
            log.error("compacting the embedded store failed (%s); the journal keeps everything, "
                      "will try again once it has grown", error)
            self._compact_after += self.compact_at_least
        finally:
            self._compaction = None

    async def compact(self) -> None:
        """Fold the journal so far into a new snapshot, in a subprocess, while writes go on."""
        assert self.folder is not None and self.journal is not None
        through = self._segment
        await self.journal.start_segment(segment_path(self.folder, through + 1))
        self._segment = through + 1
        command = [sys.executable, "-m", "burts_books.infra.embedded.compaction",
                   str(self.folder), str(through), str(os.getpid())]
        # Started and waited for from a thread: uvloop starts a process by forking the whole server,
        # which held the loop 10-17 ms at 20,000 books; Python's subprocess (vfork) takes a few, off it.
        starting = asyncio.ensure_future(asyncio.to_thread(
            subprocess.Popen, command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        try:
            process = await asyncio.shield(starting)  # cancelled meanwhile, the thread still starts it
            _, errors = await asyncio.to_thread(process.communicate)
        except BaseException:
            with contextlib.suppress(OSError):  # one that could not start has nothing to stop
                process = await starting
                process.kill()
                await asyncio.to_thread(process.wait)
            raise
        if process.returncode != 0:
            raise CompactionFailed(errors.decode(errors="replace").strip() or f"exit status {process.returncode}")
        self._compact_after = max(self.compact_at_least, snapshot_path(self.folder).stat().st_size)

    async def close(self) -> None:
        if self._compaction is not None:
            self._compaction.cancel()
            await asyncio.wait([self._compaction])
        if self.journal is not None:
            await self.journal.close()
            self.journal = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
