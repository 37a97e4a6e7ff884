"""The bare-Tornado reference: what any Tornado handler can at best do, on this machine, in this run.

    python -m tests.benchmarks.reference_hello --port 8888

GET /             "Hello, world"
GET /page         the Recommended Reading markup of the twelve starter books, Tornado + Jinja2,
                  no database (the page aiohttp renders in reference_aiohttp)
GET /ws           a WebSocket that only listens
GET /poll         a long poll, answered at the next broadcast
GET /broadcast?version=V   a state message to every WebSocket (a naive `write_message` loop)
                  and the same answer to every held poll

Loopback only; it runs until stopped.
"""

import argparse
import asyncio

import tornado.web
import tornado.websocket

from burts_books.infra.server import LISTEN_BACKLOG
from tests.benchmarks.reference_books import BOOKS, PAGE, environment

SOCKETS: set = set()


def state(version: int) -> dict:
    return {"type": "state", "isbn": "9780596529321", "available": 10, "version": version}


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world")


class Page(tornado.web.RequestHandler):
    template = environment().get_template(PAGE)

    def get(self):
        self.write(self.template.render(books=BOOKS, q=self.get_argument("q", ""), cart_count=0))


class Socket(tornado.websocket.WebSocketHandler):
    def open(self):
        SOCKETS.add(self)

    def on_message(self, message):
        pass

    def on_close(self):
        SOCKETS.discard(self)


class Poll(tornado.web.RequestHandler):
    news: asyncio.Future | None = None

    async def get(self):
        if Poll.news is None:
            Poll.news = asyncio.get_running_loop().create_future()
        self.write({"books": [await Poll.news]})


class Broadcast(tornado.web.RequestHandler):
    def get(self):
        message = state(int(self.get_argument("version")))
        for socket in list(SOCKETS):
            socket.write_message(message)
        if Poll.news is not None:
            Poll.news.set_result(message)
            Poll.news = None
        self.write("sent")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    routes = [("/", Hello), ("/page", Page), ("/ws", Socket), ("/poll", Poll), ("/broadcast", Broadcast)]
    app = tornado.web.Application(routes)
    # The shop's backlog: the benchmarks' 10,000 connections open without waiting on dropped SYNs, on either side.
    app.listen(args.port, "127.0.0.1", backlog=LISTEN_BACKLOG)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
