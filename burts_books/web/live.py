"""Live stock counts for browsers and programs: long polling and a WebSocket feed.

This module owns the wire format (query strings, `{"type": ...}` messages);
what to send and when is the live feed's business (burts_books/live.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct

import tornado.escape
import tornado.websocket
from tornado.iostream import IOStream, SSLIOStream, StreamClosedError

from .. import isbn as isbn_codes
from ..infra.errors import Invalid, TooMany
from ..infra.numbers import LARGEST, whole_number_or_invalid
from ..infra.slices import in_slices
from ..live import Outbox, Poll
from .base import JsonHandler, client_address, json_text

MAX_ISBNS = 100  # per poll or per subscribe message
TRY_AGAIN_LATER = 1013  # the WebSocket close code for "try again later" (RFC 6455's registry)
GOING_AWAY = 1001  # RFC 6455: the server is going down; the page reconnects, through nginx to another process


def parse_poll(isbns: list[str], versions: list[str]) -> dict[str, int | None]:
    """Pair `isbn` and `version` query arguments in order; Invalid says what is wrong."""
    if not isbns:
        raise Invalid("Say which book to watch: ?isbn=...&version=...")
    if len(isbns) > MAX_ISBNS:
        raise Invalid(f"Watch at most {MAX_ISBNS} books per poll.")
    if versions and len(versions) != len(isbns):
        raise Invalid("Give one version per isbn, in the same order (or none at all).")
    since: dict[str, int | None] = {}
    for position, raw in enumerate(isbns):
        isbn = isbn_codes.from_input(raw)
        if isbn in since:
            raise Invalid(f"ISBN {isbn} is given twice.")
        since[isbn] = None
        if versions:
            since[isbn] = whole_number_or_invalid(
                versions[position], 0, LARGEST,
                f"version must be a whole number, got {versions[position]!r}.",
            )
    return since


def parse_subscribe(message: str | bytes) -> list[str] | None:
    """A WebSocket `{"subscribe": [isbn, ...] | "all"}`: the ISBNs, or None for all."""
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):  # RecursionError: nested past Python's stack
        raise Invalid('Messages must be JSON, like {"subscribe": ["9780596529321"]}.') from None
    wanted = data.get("subscribe") if isinstance(data, dict) else None
    if wanted == "all":
        return None
    if not isinstance(wanted, list) or not wanted:
        raise Invalid('Send {"subscribe": [isbn, ...]} or {"subscribe": "all"}.')
    return distinct_isbns(wanted, f'Subscribe to at most {MAX_ISBNS} books per message, or to "all".')


def distinct_isbns(raws: list, too_many: str) -> list[str]:
    """The ISBN-13s of what a client named (ISBN-10s, hyphens), each once, in order; Invalid with
    `too_many` past MAX_ISBNS, or naming a bad one."""
    if len(raws) > MAX_ISBNS:
        raise Invalid(too_many)
    return list(dict.fromkeys(isbn_codes.from_input(raw) for raw in raws))


class CartStatusHandler(JsonHandler):
    """GET /cart/status?isbn=A&version=3&isbn=B&version=5: answers when one is newer, or at the timeout."""

    poll = None
    # One change answers every poll held on its book at once: thousands of access lines that say
    # nothing new, logged as debug (refusals and errors still log; nginx logs every request).
    routine = True

    async def prepare(self):
        # Polls are the busiest requests and need neither the user nor the cart;
        # a program that sends a token still learns when it is wrong.
        token = self.bearer_token()
        if token is not None:
            self.current_user = await self.token_owner(token)

    async def get(self):
        self.poll = Poll(parse_poll(self.get_query_arguments("isbn"), self.get_query_arguments("version")),
                         self._respond)
        timeout = self.shop_settings.long_poll_timeout_seconds
        with self.services.limits.live_connections.one(self.client_address):
            await self.services.live.long_poll(self.poll, timeout)

    def _respond(self, books: list[dict]) -> None:
        self.write_json(poll_answer(books))

    def on_connection_close(self):
        if self.poll is not None:
            self.services.live.discard(self.poll)
            self.poll.cancel()


def poll_answer(books: list[dict]) -> bytes:
    """A poll's JSON answer. One change releases its book's polls with the same state dicts:
    the answer is encoded once for all of them (the last one encoded is kept, with its states;
    comparing the same dicts is an identity check each)."""
    kept, answer = _last_answer
    if books != kept:
        answer = json_text({"books": books}).encode()
        _last_answer[:] = [books, answer]
    return answer


_last_answer: list = [[], b""]


def state_frame(state: dict) -> bytes:
    """The WebSocket frame (RFC 6455 5.2: final, text, unmasked, uncompressed) of a state message.

    One change goes to every subscriber as the same state dict: the frame is
    built once for all of them (the last one built is kept, with its state).
    """
    if state is not _last_frame[0]:
        payload = tornado.escape.utf8(tornado.escape.json_encode({"type": "state", **state}))
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x81, size)
        elif size <= 0xFFFF:
            head = struct.pack("!BBH", 0x81, 126, size)
        else:
            head = struct.pack("!BBQ", 0x81, 127, size)
        _last_frame[:] = [state, head + payload]
    return _last_frame[1]


_last_frame: list = [None, b""]


def write_now(stream: IOStream, data: bytes) -> None:
    """`stream.write(data)`; with nothing waiting to go out, straight to the socket, which nearly
    always takes a small frame whole. IOStream.write makes a future for every write and resolves it
    in a later turn of the loop: a fifth of a fan-out to 10,000 sockets. Whatever the socket does
    not take (or an error it raises) goes through IOStream as usual, in order."""
    sent = 0
    # Not under TLS, which frames its own records: only IOStream knows how.
    if not stream.writing() and not isinstance(stream, SSLIOStream):
        with contextlib.suppress(OSError):
            sent = stream.socket.send(data)
    if sent < len(data):
        stream.write(data[sent:])


class SocketPings:
    """Every `interval` seconds, a ping to each open feed socket; one that has not answered the ping
    before is closed (a peer gone without a word, or a proxy that dropped the connection).

    One timer for all of them: Tornado's own pings (websocket_ping_interval) keep a task, a timer
    and a coroutine per connection, a tenth of an idle socket's memory.
    """

    def __init__(self, interval: float):
        self.interval = interval
        self._waiting: dict[InventorySocket, bool] = {}  # socket -> whether its last ping is unanswered
        self._task: asyncio.Task | None = None

    def add(self, socket: InventorySocket) -> None:
        self._waiting[socket] = False
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def answered(self, socket: InventorySocket) -> None:
        if socket in self._waiting:
            self._waiting[socket] = False

    def discard(self, socket: InventorySocket) -> None:
        self._waiting.pop(socket, None)
        if not self._waiting and self._task is not None:  # no timer while nobody is connected
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            # Sliced: 10,000 pings hold the loop for about 100 ms.
            async for socket in in_slices(list(self._waiting)):
                unanswered = self._waiting.get(socket)
                if unanswered is None:
                    continue  # closed since the round began
                if unanswered:
                    socket.close(reason="ping timed out")
                    continue
                self._waiting[socket] = True
                with contextlib.suppress(tornado.websocket.WebSocketClosedError, StreamClosedError):
                    socket.ping()  # one closing already is taken out by its on_close


class InventorySocket(tornado.websocket.WebSocketHandler):
    """Send {"subscribe": [isbn, ...]} or {"subscribe": "all"}; receive {"type": "state", ...} per change.

    Tornado's default check_origin already refuses an Origin whose host is
    not this request's Host, which is the cross-site check we want.
    No compression is offered (get_compression_options stays None), so every
    frame is plain and the same frame can go to every subscriber.
    """

    WRITE_TIMEOUT = 10.0
    outbox: Outbox | None = None  # None: refused at open
    sender: asyncio.Task | None = None  # sending what waited in the outbox, while it has any

    def open(self):
        services = self.settings["services"]
        self.address = client_address(self.request)
        try:
            services.limits.live_connections.take(self.address)
        except TooMany as exc:
            self.close(TRY_AGAIN_LATER, str(exc))
            return
        self.feed = services.live
        self.outbox = Outbox(self._wake_sender, self._send_now)
        self.feed.add(self.outbox)  # listed from the start, so a shutdown reaches it before it subscribes
        self.settings["socket_pings"].add(self)

    def on_pong(self, data: bytes) -> None:
        self.settings["socket_pings"].answered(self)

    async def on_message(self, message):
        if self.outbox is None:
            return
        try:
            isbns = parse_subscribe(message)
        except Invalid as exc:
            self.outbox.notice(str(exc))
            return
        for isbn in sorted(self.feed.watch(self.outbox, isbns)):
            self.outbox.notice(f"No book with ISBN {isbn}.")

    def _send_now(self, state: dict) -> bool:
        """Write the state's frame straight away, unless earlier messages are still going out."""
        connection = self.ws_connection
        stream = None if connection is None or connection.is_closing() else connection.stream
        if stream is None:
            return True  # nobody left to tell; on_close takes the outbox out of the feed
        if self.sender is not None or stream.writing():
            return False
        try:
            write_now(stream, state_frame(state))
        except StreamClosedError:
            self.close()
        return True

    def _wake_sender(self) -> None:
        if self.sender is None and self.ws_connection is not None:
            self.sender = asyncio.ensure_future(self.send_waiting())

    async def send_waiting(self):
        """Send what waits in the outbox, in order, until it is empty; close a client that stops reading."""
        assert self.outbox is not None
        try:
            while True:
                notices, states = self.outbox.take()
                for message in [{"type": "error", "message": text} for text in notices] + [
                    {"type": "state", **state} for state in states
                ]:
                    await asyncio.wait_for(self.write_message(message), self.WRITE_TIMEOUT)
                if self.outbox.ended:
                    self.close(GOING_AWAY, "The shop is restarting: reconnect.")
                    return
                if not notices and not states:
                    return
        except (TimeoutError, tornado.websocket.WebSocketClosedError, StreamClosedError):
            self.close()
        finally:
            self.sender = None

    def on_close(self):
        if self.outbox is None:
            return
        self.feed.discard(self.outbox)
        self.settings["socket_pings"].discard(self)
        self.settings["services"].limits.live_connections.give_back(self.address)
        if self.sender is not None:
            self.sender.cancel()
