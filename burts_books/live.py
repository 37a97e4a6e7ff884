"""The live inventory feed behind long polls and WebSockets (no HTTP here).

`LiveFeed` hands every bus event to the watchers that asked for its ISBN.
A watcher is a `Poll` (one long-poll request) or an `Outbox` (one WebSocket
connection). Versions only move forward: each watcher drops states older
than what it already has, which makes resyncing after a Redis outage (re-read
the watched books, offer them again) safe to do at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterable, Iterator

from .infra.bus import EventBus
from .infra.errors import NotFound
from .inventory import Inventory

log = logging.getLogger(__name__)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection inside: a fan-out to 10,000 connections allocates enough to start several,
    each walking every connection's objects. Nothing is lost: the next collection after finds any cycle."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Watcher:
    """Someone to tell about changes to some books; subclasses say how."""

    __slots__ = ("isbns",)  # one per connection: slots keep each small
    isbns: set[str] | None  # None watches every book

    def wants(self, isbn: str) -> bool:
        return self.isbns is None or isbn in self.isbns

    def watch(self, isbns: Iterable[str] | None) -> None:
        if isbns is None:
            self.isbns = None
        elif self.isbns is not None:
            self.isbns |= set(isbns)

    def deliver(self, state: dict, *, again: bool = False) -> None:
        """Take a state; `again` offers one the watcher may already have (a resync or first read)."""
        raise NotImplementedError

    def end(self) -> None:
        """The process is shutting down: finish now, so the client goes on with another process."""
        raise NotImplementedError


class LiveFeed:
    def __init__(self, bus: EventBus, inventory: Inventory):
        self.inventory = inventory
        self._watchers: set[Watcher] = set()
        self._resyncs: set[asyncio.Task] = set()
        self.ended = False
        self._all_gone = asyncio.Event()  # set once ended and every watcher has left
        bus.subscribe(self._deliver)
        bus.on_reconnect(self._resync_soon)

    def __len__(self) -> int:
        return len(self._watchers)

    def count(self, kind: type[Watcher]) -> int:
        return sum(isinstance(watcher, kind) for watcher in self._watchers)

    def add(self, watcher: Watcher) -> None:
        self._watchers.add(watcher)
        if self.ended:
            self._all_gone.clear()  # a socket opened as the process drains: its close is waited for too
            watcher.end()

    def end_all(self) -> None:
        """Shutting down: every watcher ends now (polls answer, sockets close), and those that come later at once."""
        self.ended = True
        if not self._watchers:
            self._all_gone.set()
        for watcher in list(self._watchers):
            watcher.end()

    async def all_gone(self) -> None:
        """Return once every watcher has left after `end_all` (sockets wait for their clients' close)."""
        await self._all_gone.wait()

    def discard(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)
        if self.ended and not self._watchers:
            self._all_gone.set()

    def _deliver(self, state: dict) -> None:
        if "kind" in state:  # not a stock state (see catalog_view.book_changed)
            return
        isbn = state["isbn"]
        # A snapshot: delivering may end a poll, which leaves the set.
        with collector_paused():
            for watcher in list(self._watchers):
                if watcher.wants(isbn):
                    watcher.deliver(state)

    def _resync_soon(self) -> None:
        task = asyncio.ensure_future(self.resync())
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)

    async def resync(self) -> None:
        """Events were lost while the bus was away: offer every watched book's current state."""
        watched: set[str] = set()
        for watcher in list(self._watchers):
            if watcher.isbns is None:
                await self._offer(None)
                return
            watched |= watcher.isbns
        if watched:
            await self._offer(watched)

    async def _offer(self, watched: set[str] | None) -> None:
        try:
            states = await self.inventory.states(watched)
        except Exception:
            log.exception("could not resync the live feed")
            return
        log.info("live feed resynced %d books", len(states))
        for state in states:
            self._deliver(state)

    def watch(self, watcher: Watcher, isbns: Iterable[str] | None) -> set[str]:
        """Tell `watcher` these books' states now and every change after; returns the ISBNs of no book."""
        isbns = None if isbns is None else set(isbns)
        states, unknown = self._announced(isbns)
        self._listen(watcher, None if isbns is None else isbns - unknown, states)
        return unknown

    async def long_poll(self, poll: Poll, timeout: float) -> None:
        """Hold `poll` until one of its books is newer than the client's, or `timeout`; it answers then."""
        self._start_poll(poll)
        try:
            await poll.wait(timeout)
        finally:
            self.discard(poll)

    def _start_poll(self, poll: Poll) -> None:
        """Refuse a poll naming a book that does not exist before it can answer anything; else start it.
        (Not in `long_poll`, whose frame is kept while the poll is held: none of this is, then.)"""
        isbns = set(poll.since)
        states, unknown = self._announced(isbns)
        if unknown:
            raise NotFound(f"No book with ISBN {min(unknown)}.")
        self._listen(poll, isbns, states)

    def _announced(self, isbns: set[str] | None) -> tuple[list[dict], set[str]]:
        """The states this process has announced (Inventory.announced_states), and the ISBNs of no book."""
        states = self.inventory.announced_states(isbns)
        return states, (isbns or set()) - {state["isbn"] for state in states}

    def _listen(self, watcher: Watcher, isbns: set[str] | None, states: list[dict]) -> None:
        """`states` must be read in the same turn of the loop as the watcher starts listening:
        then every later change reaches it."""
        watcher.watch(isbns)
        self.add(watcher)
        for state in states:
            watcher.deliver(state, again=True)


class Poll(Watcher):
    """One long-poll request: the versions the client has, and the newest states seen since.

    It answers once, through `respond`, with its books' states: a change does so in the pass
    that delivers it, so the last of 10,000 polls it releases is answered before the first of
    their requests resumes to finish up (Outbox.send_now does the same for WebSockets).
    """

    __slots__ = ("_done", "_respond", "since", "states")

    def __init__(self, since: dict[str, int | None], respond: Callable[[list[dict]], None]):
        self.since = since
        self.isbns = set()
        self.states: dict[str, dict] = {}
        self._respond: Callable[[list[dict]], None] | None = respond
        # A bare future rather than an Event and wait_for: a release then wakes the request at once.
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def deliver(self, state: dict, *, again: bool = False) -> None:
        isbn = state["isbn"]
        if isbn in self.states and state["version"] <= self.states[isbn]["version"]:
            return
        self.states[isbn] = state
        if self.since[isbn] is None or state["version"] > self.since[isbn]:
            self._answer()

    def _answer(self) -> None:
        respond = self._close()
        if respond is None:
            return
        try:
            respond([self.states[isbn] for isbn in self.since])
        except Exception:  # in the loop over every watcher of a change: the others still get theirs
            log.exception("could not answer a long poll")

    def _close(self) -> Callable[[list[dict]], None] | None:
        """Done: wake the request, and let go of what answers it (once only), which holds the request:
        a cycle left behind would keep each request until the collector's next full pass."""
        respond, self._respond = self._respond, None
        if not self._done.done():
            self._done.set_result(None)
        return respond

    async def wait(self, timeout: float) -> None:
        timer = asyncio.get_running_loop().call_later(timeout, self._answer)
        try:
            await self._done
        finally:
            timer.cancel()

    def cancel(self) -> None:
        """The client has gone: nobody to answer."""
        self._close()

    def end(self) -> None:
        self._answer()  # answered with what it has: the client polls again, elsewhere


class Outbox(Watcher):
    """What one WebSocket client is still to be sent: at most the latest state per ISBN.

    A client that reads slowly therefore costs a bounded amount of memory,
    and never receives a version older than one it was already sent.
    With nothing waiting, a state goes straight to `send_now`, which sends it
    at once (True) or says the connection is busy writing (False); then it
    waits here, and `wake` is called so that someone `take`s it.
    """

    __slots__ = ("_notices", "_pending", "_send_now", "_sent", "_wake", "ended")
    MAX_NOTICES = 10

    def __init__(self, wake: Callable[[], None] = lambda: None,
                 send_now: Callable[[dict], bool] = lambda state: False) -> None:
        self.isbns = set()
        self._pending: dict[str, dict] = {}
        self._notices: list[str] = []
        self._sent: dict[str, int] = {}
        self._wake = wake
        self._send_now = send_now
        self.ended = False  # the process is going away: send what is pending, then close

    def end(self) -> None:
        self.ended = True
        self._wake()

    def deliver(self, state: dict, *, again: bool = False) -> None:
        """Send or queue a state unless the client has (or will get) a newer one; `again` resends an equal one."""
        isbn, version = state["isbn"], state["version"]
        pending = self._pending.get(isbn)
        newest = max(self._sent.get(isbn, -1), -1 if pending is None else pending["version"])
        if version < newest or (version == newest and not again):
            return
        if not self._pending and not self._notices and self._send_now(state):
            self._sent[isbn] = version
            return
        self._pending[isbn] = state
        self._wake()

    def notice(self, message: str) -> None:
        """A message for the client about its own request; a bounded number wait at a time."""
        if len(self._notices) < self.MAX_NOTICES:
            self._notices.append(message)
            self._wake()

    def take(self) -> tuple[list[str], list[dict]]:
        """All there is to send, taken: (notices, states)."""
        notices, states = self._notices, list(self._pending.values())
        self._notices, self._pending = [], {}
        for state in states:
            self._sent[state["isbn"]] = state["version"]
        return notices, states
