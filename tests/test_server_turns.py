"""A turn of the event loop starts a bounded number of requests (infra/server.ShopServer): timers and
finished writes get their turn while many requests wait, and a client gone before its turn costs nothing."""

import asyncio
import socket
import time

import pytest
import tornado.web
from tornado import httputil
from tornado.ioloop import IOLoop

from burts_books.infra.server import REQUESTS_PER_TURN, ShopServer, _BusyWhileAnswering
from tests.shop_process import free_port

REQUESTS = 4 * REQUESTS_PER_TURN


class Page(tornado.web.RequestHandler):
    def get(self):
        events = self.settings["events"]
        if not events:  # the first request to start asks for a callback in the next turn
            IOLoop.current().add_callback(events.append, "callback")
        events.append("request")
        time.sleep(0.002)  # a page's work, holding the loop
        self.write("ok")


async def answer(client: socket.socket) -> bytes:
    return await asyncio.get_running_loop().sock_recv(client, 4096)


@pytest.mark.gen_test
async def test_a_callback_runs_while_many_requests_that_came_together_wait():
    events: list[str] = []
    server = ShopServer(tornado.web.Application([("/", Page)], events=events), max_connections=1000, idle_timeout=75)
    port = free_port()
    server.listen(port, "127.0.0.1")
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(REQUESTS)]
    try:
        for client in clients:  # all sent before the server reads any: they are ready together
            client.sendall(b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
            client.setblocking(False)
        answers = await asyncio.wait_for(asyncio.gather(*(answer(client) for client in clients)), 10)
    finally:
        for client in clients:
            client.close()
        server.stop()
    assert all(a.startswith(b"HTTP/1.1 200 OK") for a in answers)
    assert events.count("request") == REQUESTS
    # Started all in one turn, every request would run before the callback asked for by the first.
    assert events.index("callback") <= 2 * REQUESTS_PER_TURN


class Recorded(httputil.HTTPMessageDelegate):
    def __init__(self, number: int, started: list[int]):
        self.number, self.started = number, started

    def finish(self) -> None:
        self.started.append(self.number)


@pytest.mark.gen_test
async def test_a_request_whose_client_left_before_its_turn_is_never_started():
    server = ShopServer(tornado.web.Application(), max_connections=10, idle_timeout=75)
    started: list[int] = []
    requests = [_BusyWhileAnswering(server, None, Recorded(n, started)) for n in range(2 * REQUESTS_PER_TURN)]
    for request in requests:
        request.finish()
    assert started == list(range(REQUESTS_PER_TURN))  # the rest wait for the next turn
    requests[-1].on_connection_close()
    for _ in range(3):
        await asyncio.sleep(0)
    assert started == list(range(2 * REQUESTS_PER_TURN - 1))
