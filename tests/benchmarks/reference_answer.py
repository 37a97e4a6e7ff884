"""The ceiling for one of the shop's answers: Tornado writing it again and doing nothing else.

    python -m tests.benchmarks.reference_answer --port 8888 --answer FILE

FILE is an answer the shop gave (JSON: "headers", a list of [name, value], and "body"), recorded
by bench_page_speed. Every GET gets that body and those headers, and Tornado's XSRF cookie when
the request brings none, as a shop page does; compression is on and the loop is the shop's
default (uvloop), as in the shop. No session, no kept page to find, no access line, no metrics:
what the shop serves below this is its own work.

Loopback only; it runs until stopped.
"""

import argparse
import asyncio
import json
from pathlib import Path

import tornado.web

from burts_books.infra.event_loop import loop_factory


class Answer(tornado.web.RequestHandler):
    def initialize(self, headers: list[list[str]], body: bytes) -> None:
        self.answer_headers = headers
        self.body = body

    def compute_etag(self) -> None:
        return None  # the shop sends none

    def get(self):
        for name, value in self.answer_headers:
            self.set_header(name, value)
        self.xsrf_token  # noqa: B018  (read for its cookie, set when the request brings none)
        self.write(self.body)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answer", type=Path, required=True)
    args = parser.parse_args()
    answer = json.loads(args.answer.read_text(encoding="utf-8"))
    routes = [(r"/.*", Answer, {"headers": answer["headers"], "body": answer["body"].encode()})]
    app = tornado.web.Application(routes, compress_response=True, xsrf_cookies=True,
                                  xsrf_cookie_kwargs={"httponly": False, "samesite": "Lax"},
                                  log_function=lambda handler: None)
    app.listen(args.port, "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=loop_factory("uvloop")) as runner:
        runner.run(main())
