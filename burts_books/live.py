"""The live inventory feed behind long polls and WebSockets (no HTTP here).

`LiveFeed` hands every bus event to the watchers that asked for its ISBN.
A watcher is a `Poll` (one long-poll request) or an `Outbox` (one WebSocket
connection). Versions only move forward: each watcher drops states older
than what it already has, which makes resyncing after a Redis outage (re-read
the watched books, offer them again) safe to do at any time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Iterable

from . import isbn as isbn_codes
from .inventory import Inventory

log = logging.getLogger(__name__)

MAX_ISBNS = 100  # per poll or per subscribe message


class Watcher:
    isbns: set[str] | None = None  # None watches every book

    def wants(self, isbn: str) -> bool:
        return self.isbns is None or isbn in self.isbns

    def deliver(self, state: dict) -> None:
        raise NotImplementedError


class LiveFeed:
    def __init__(self, bus, inventory: Inventory):
        self.inventory = inventory
        self._watchers: set[Watcher] = set()
        self._resyncs: set[asyncio.Task] = set()
        bus.subscribe(self._deliver)
        bus.on_reconnect(self._resync_soon)

    def __len__(self) -> int:
        return len(self._watchers)

    def add(self, watcher: Watcher) -> None:
        self._watchers.add(watcher)

    def discard(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def _deliver(self, state: dict) -> None:
        # A snapshot: delivering may end a poll, which leaves the set.
        for watcher in list(self._watchers):
            if watcher.wants(state["isbn"]):
                watcher.deliver(state)

    def _resync_soon(self) -> None:
        task = asyncio.ensure_future(self.resync())
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)

    async def resync(self) -> None:
        """Events were lost while the bus was away: offer every watched book's current state."""
        watched: set[str] | None = set()
        for watcher in list(self._watchers):
            if watcher.isbns is None:
                watched = None
                break
            watched |= watcher.isbns
        if watched == set():
            return
        try:
            states = await self.inventory.states(watched)
        except Exception:
            log.exception("could not resync the live feed")
            return
        log.info("live feed resynced %d books", len(states))
        for state in states:
            self._deliver(state)

    async def long_poll(self, poll: "Poll", timeout: float) -> list[dict]:
        """The polled books' states, once one is newer than the client's or at `timeout`."""
        # Watch before reading, so a change between the read and the wait is not missed.
        self.add(poll)
        try:
            for state in await self.inventory.states(poll.isbns):
                poll.deliver(state)
            missing = poll.isbns - set(poll.states)
            if missing:
                raise LookupError(f"No book with ISBN {min(missing)}.")
            await poll.wait(timeout)
        finally:
            self.discard(poll)
        return poll.answer()


class Poll(Watcher):
    """One long-poll request: the versions the client has, and the newest states seen since."""

    def __init__(self, since: dict[str, int | None]):
        self.since = since
        self.isbns = set(since)
        self.states: dict[str, dict] = {}
        self._news = asyncio.Event()
        self.cancelled = False

    def deliver(self, state: dict) -> None:
        isbn = state["isbn"]
        if isbn in self.states and state["version"] <= self.states[isbn]["version"]:
            return
        self.states[isbn] = state
        if self.since[isbn] is None or state["version"] > self.since[isbn]:
            self._news.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._news.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def cancel(self) -> None:
        self.cancelled = True
        self._news.set()

    def answer(self) -> list[dict]:
        return [self.states[isbn] for isbn in self.since]


def parse_poll(isbns: list[str], versions: list[str]) -> dict[str, int | None]:
    """Pair `isbn` and `version` query arguments in order; ValueError says what is wrong."""
    if not isbns:
        raise ValueError("Say which book to watch: ?isbn=...&version=...")
    if len(isbns) > MAX_ISBNS:
        raise ValueError(f"Watch at most {MAX_ISBNS} books per poll.")
    if versions and len(versions) != len(isbns):
        raise ValueError("Give one version per isbn, in the same order (or none at all).")
    since: dict[str, int | None] = {}
    for position, raw in enumerate(isbns):
        isbn = isbn_codes.from_input(raw)
        version = None
        if versions:
            if not versions[position].isdecimal():
                raise ValueError(f"version must be a whole number, got {versions[position]!r}.")
            version = int(versions[position])
        if isbn in since:
            raise ValueError(f"ISBN {isbn} is given twice.")
        since[isbn] = version
    return since


def parse_subscribe(message: str | bytes) -> list[str] | None:
    """A WebSocket `{"subscribe": [isbn, ...] | "all"}`: the ISBNs, or None for all."""
    try:
        data = json.loads(message)
    except ValueError:
        raise ValueError("Messages must be JSON, like {\"subscribe\": [\"9780596529321\"]}.") from None
    wanted = data.get("subscribe") if isinstance(data, dict) else None
    if wanted == "all":
        return None
    if not isinstance(wanted, list) or not wanted:
        raise ValueError("Send {\"subscribe\": [isbn, ...]} or {\"subscribe\": \"all\"}.")
    if len(wanted) > MAX_ISBNS:
        raise ValueError(f"Subscribe to at most {MAX_ISBNS} books per message, or to \"all\".")
    return list(dict.fromkeys(isbn_codes.from_input(raw) for raw in wanted))


class Outbox(Watcher):
    """What one WebSocket client is still to be sent: at most the latest state per ISBN.

    A client that reads slowly therefore costs a bounded amount of memory,
    and never receives a version older than one it was already sent.
    """

    MAX_NOTICES = 10

    def __init__(self):
        self.isbns = set()
        self._pending: dict[str, dict] = {}
        self._notices: list[dict] = []
        self._sent: dict[str, int] = {}
        self._ready = asyncio.Event()

    def watch(self, isbns: Iterable[str] | None) -> None:
        if isbns is None:
            self.isbns = None
        elif self.isbns is not None:
            self.isbns |= set(isbns)

    def unwatch(self, isbns: Iterable[str]) -> None:
        if self.isbns is not None:
            self.isbns -= set(isbns)

    def deliver(self, state: dict, *, again: bool = False) -> None:
        """Queue a state unless the client has (or will get) a newer one; `again` resends an equal one."""
        isbn, version = state["isbn"], state["version"]
        newest = max(self._sent.get(isbn, -1), self._pending.get(isbn, {}).get("version", -1))
        if version < newest or (version == newest and not again):
            return
        self._pending[isbn] = {"type": "state", **state}
        self._ready.set()

    def notice(self, message: str) -> None:
        if len(self._notices) < self.MAX_NOTICES:
            self._notices.append({"type": "error", "message": message})
            self._ready.set()

    async def take(self) -> list[dict]:
        """Wait for something to send, and take all of it."""
        await self._ready.wait()
        self._ready.clear()
        messages = self._notices + list(self._pending.values())
        self._notices, self._pending = [], {}
        for message in messages:
            if message["type"] == "state":
                self._sent[message["isbn"]] = message["version"]
        return messages
