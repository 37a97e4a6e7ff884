"""Answers and WebSocket frames leave the shop at once (infra/server.ShopServer): Nagle's algorithm stays
off on every connection, so a frame written while the one before is unacknowledged is not held back
until the client's delayed acknowledgement (40 ms on Linux, 200 ms on Windows)."""

import asyncio
import socket

import pytest
import tornado.escape
import tornado.iostream
import tornado.web
import tornado.websocket

from burts_books.infra.server import ShopServer
from tests.shop_process import free_port


def nagle_off(stream: tornado.iostream.IOStream) -> bool:
    return bool(stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


class Page(tornado.web.RequestHandler):
    def get(self):
        self.write({"nagle_off": nagle_off(self.request.connection.stream)})


class Frames(tornado.websocket.WebSocketHandler):
    def open(self):
        self.write_message({"nagle_off": nagle_off(self.ws_connection.stream)})


@pytest.mark.gen_test
async def test_every_answer_and_frame_leaves_without_waiting_for_the_client():
    server = ShopServer(tornado.web.Application([("/", Page), ("/ws", Frames)]), max_connections=10, idle_timeout=75)
    port = free_port()
    server.listen(port, "127.0.0.1")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        answers = []
        for _ in range(3):  # one connection kept alive: Tornado turns Nagle back on after each answer
            writer.write(b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            answers.append(tornado.escape.json_decode(await reader.readexactly(length)))
        socket_ = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
        frame = tornado.escape.json_decode(await asyncio.wait_for(socket_.read_message(), 10))
        socket_.close()
    finally:
        writer.close()
        server.stop()
    assert answers == [{"nagle_off": True}] * 3
    assert frame == {"nagle_off": True}
