"""A client of the live inventory feed at /cart/status/ws, as the page script or another program uses it."""

import asyncio
import json

import tornado.httpclient
import tornado.websocket

from tests.waiting import WAIT_TIMEOUT

FEED = "/cart/status/ws"


async def connect(base_url, origin=None, headers=None):
    """Open the feed of the shop at `base_url` (http://...), sending `origin` as a browser would."""
    url = base_url.replace("http://", "ws://", 1) + FEED
    headers = {**(headers or {}), **({"Origin": origin} if origin else {})}
    return await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(url, headers=headers))


def subscribe(socket, isbns):
    """Ask for these books' states (a list of ISBNs, or "all")."""
    socket.write_message(json.dumps({"subscribe": isbns}))


async def receive(socket, timeout=WAIT_TIMEOUT):
    """The next message, decoded; fails if none comes or the server closes the connection."""
    message = await asyncio.wait_for(socket.read_message(), timeout)
    assert message is not None, "the server closed the connection"
    return json.loads(message)
