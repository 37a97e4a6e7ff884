"""The aiohttp reference: the shop's Recommended Reading markup for the twelve starter books,
rendered by aiohttp + aiohttp-jinja2 with no database (what a user might pick instead of Tornado).

    python -m tests.benchmarks.reference_aiohttp --port 8889

Needs the `bench` extra (pip install -e '.[bench]'). Loopback only; it runs until stopped.
"""

import argparse
import datetime
import json
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from burts_books.infra import resources

HERE = Path(__file__).resolve().parent


def starter_books() -> list[dict]:
    books = json.loads((resources.MIGRATIONS / "0002_starter_books.json").read_text())
    added = datetime.datetime(2026, 12, 1)
    return [dict(book, date_added=added) for book in books]


BOOKS = starter_books()


@aiohttp_jinja2.template("reference_page.html")
async def recommended(request: web.Request) -> dict:
    return {"books": BOOKS, "q": request.query.get("q", ""), "cart_count": 0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    environment = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE), autoescape=True)
    environment.filters["price"] = lambda cents: f"${cents // 100}.{cents % 100:02d}"
    app.router.add_get("/", recommended)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
