"""The aiohttp reference: the shop's Recommended Reading markup for the twelve starter books,
rendered by aiohttp + aiohttp-jinja2 with no database (what a user might pick instead of Tornado).

    python -m tests.benchmarks.reference_aiohttp --port 8889

Needs the `bench` extra (pip install -e '.[bench]'). Loopback only; it runs until stopped.
"""

import argparse

import aiohttp_jinja2
import jinja2
from aiohttp import web

from tests.benchmarks.reference_books import BOOKS, PAGE, TEMPLATES, price


@aiohttp_jinja2.template(PAGE)
async def recommended(request: web.Request) -> dict:
    return {"books": BOOKS, "q": request.query.get("q", ""), "cart_count": 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, filters={"price": price})
    app.router.add_get("/", recommended)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
