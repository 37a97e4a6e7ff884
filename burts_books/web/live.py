"""Live stock counts for browsers and programs: long polling and a WebSocket feed."""

import asyncio

import tornado.web
import tornado.websocket
from tornado.iostream import StreamClosedError

from .. import live
from .base import JsonHandler


class CartStatusHandler(JsonHandler):
    """GET /cart/status?isbn=A&version=3&isbn=B&version=5: answers when one is newer, or at the timeout."""

    poll = None

    async def prepare(self):
        # Polls are the busiest requests and need neither the user nor the cart.
        pass

    async def get(self):
        try:
            since = live.parse_poll(self.get_query_arguments("isbn"), self.get_query_arguments("version"))
        except ValueError as exc:
            raise tornado.web.HTTPError(400, str(exc)) from None
        self.poll = live.Poll(since)
        timeout = self.application.shop_settings.long_poll_timeout_seconds
        try:
            books = await self.services.live.long_poll(self.poll, timeout)
        except LookupError as exc:
            raise tornado.web.HTTPError(404, str(exc)) from None
        if self.poll.cancelled:
            return
        self.set_header("Cache-Control", "no-store")
        self.write_json({"books": books})

    def on_connection_close(self):
        if self.poll is not None:
            self.services.live.discard(self.poll)
            self.poll.cancel()


class InventorySocket(tornado.websocket.WebSocketHandler):
    """Send {"subscribe": [isbn, ...]} or {"subscribe": "all"}; receive {"type": "state", ...} per change.

    Tornado's default check_origin already refuses an Origin whose host is
    not this request's Host, which is the cross-site check we want.
    """

    WRITE_TIMEOUT = 10.0

    def open(self):
        self.feed = self.application.services.live
        self.outbox = live.Outbox()
        self.feed.add(self.outbox)
        # One sender per connection: a slow reader holds at most the latest state per book.
        self.sender = asyncio.ensure_future(self.send_all())

    async def on_message(self, message):
        try:
            isbns = live.parse_subscribe(message)
        except ValueError as exc:
            self.outbox.notice(str(exc))
            return
        self.outbox.watch(isbns)  # before reading, so no change slips between
        states = await self.feed.inventory.states(isbns)
        unknown = set(isbns or ()) - {state["isbn"] for state in states}
        self.outbox.unwatch(unknown)
        for isbn in sorted(unknown):
            self.outbox.notice(f"No book with ISBN {isbn}.")
        for state in states:
            self.outbox.deliver(state, again=True)

    async def send_all(self):
        try:
            while True:
                for message in await self.outbox.take():
                    await asyncio.wait_for(self.write_message(message), self.WRITE_TIMEOUT)
        except (asyncio.TimeoutError, tornado.websocket.WebSocketClosedError, StreamClosedError):
            self.close()

    def on_close(self):
        self.feed.discard(self.outbox)
        self.sender.cancel()
