"""Goal 1 of the speed issue: shop pages against bare Tornado and aiohttp, measured in the same run.

    .venv/bin/python -m tests.benchmarks.bench_page_speed [--seconds 2] [--rounds 3] [--books 20000]

Each figure is req/s from `wrk -t1 -c50` (pinned to the other core than the server's):
bare Tornado "hello world" (reference_hello), the Recommended Reading markup of the starter
books on aiohttp + aiohttp-jinja2 (reference_aiohttp), and the shop's /recommended/, book pages
and /books/, for an anonymous visitor and for a signed-in shopper with a copy in the cart,
on the starter catalog and on the benchmark catalog of --books books. Book pages are twelve
titles in turn on both catalogs (the starter catalog's twelve, and twelve of the large one), so
those rows differ by the catalog's size alone; on the large catalog also 8,000 other titles in
turn for each visitor, more than the runs can answer: those rows measure a page's first render.

Two ceilings are measured beside them, as context: next to /recommended/, Tornado writing the
shop's own answer to that visitor again, its body and headers, and doing nothing else
(reference_answer); next to first visits, bare Tornado rendering its twelve-book page with Jinja2
on every request (reference_hello's /page).

A figure is measured in --rounds rounds: in each, hello, the page (and aiohttp, for
/recommended/) one after the other, seconds apart. Each figure shown is the median of its
rounds, and each ratio the median of the rounds' ratios: the machine's speed moves by the
minute, and by more than the goals' margins.

Loopback only, bounded in time (about 100 wrk runs of --seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import random
import statistics
import tempfile
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from tests.benchmarks.bench_store_size import import_catalog
from tests.benchmarks.harness import (
    SHOP,
    Reference,
    Row,
    get_script,
    in_turn,
    median_ratio,
    print_table,
    recorded_answer,
    wrk,
)
from tests.constants import PASSWORD, STARTER_BOOKS
from tests.shop_client import ShopClient
from tests.shop_process import LIFTED_LIMITS, ShopProcess, run_cli

SHOPPER = "reader@example.com"
FIRST_VISITS = 8_000  # titles for each visitor's first visits: more than the rounds answer
STARTER_ISBNS = [book["isbn"] for book in STARTER_BOOKS]


async def signed_in_cookie(url: str) -> str:
    """The Cookie header of a shopper signed in with one copy in the cart."""
    shopper = ShopClient(AsyncHTTPClient(), url)
    await shopper.login(SHOPPER)
    answer = await shopper.cart_json("add")
    assert answer.code == 200, answer.text
    return "; ".join(f"{name}={value}" for name, value in shopper.cookies.items())


def page_rps(url: str, page: str, paths: list[str], cookie: str, seconds: float, rounds: int, number: int) -> float:
    """Req/s of one run over `paths`; round `number` starts a `rounds`th further along them, so
    first visits stay first visits in every round."""
    start = number * len(paths) // rounds
    figures = wrk(url, seconds, get_script(paths[start:] + paths[:start], cookie))
    assert figures["non_2xx"] == 0, f"{page} answered errors: {figures}"
    return figures["rps"]


def measure_catalog(name: str, data_dir: Path, isbns: list[str], seconds: float, rounds: int,
                    first_visits: list[str] | None = None) -> list[Row]:
    """The rows of one catalog: each page for each visitor; book pages are `isbns` in turn, and with
    `first_visits`, also those (more than a run can visit twice, so most answers render a page)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    created = run_cli("create-user", SHOPPER, data_dir=data_dir, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    rows = []
    with Reference("reference_hello") as hello, Reference("reference_aiohttp") as aiohttp, \
            ShopProcess(data_dir, *LIFTED_LIMITS, command=SHOP) as shop, contextlib.ExitStack() as stack:
        cookie = asyncio.run(signed_in_cookie(shop.url))
        for number, (visitor, visitor_cookie) in enumerate((("anonymous", ""), ("signed in, cart", cookie))):
            answer = recorded_answer(f"{shop.url}/recommended/", visitor_cookie,
                                     data_dir.parent / f"recommended-{number}.json")
            replay = stack.enter_context(Reference("reference_answer", f"--answer={answer}"))
            pages = {
                "/recommended/": ["/recommended/"],
                f"book page ({len(isbns)} titles in turn)": [f"/books/{isbn}" for isbn in isbns],
                "/books/": ["/books/"],
            }
            if first_visits:  # each visitor their own titles: a page the other rendered is no first visit
                titles = first_visits[number::2]
                pages[f"book page, first visits ({len(titles):,} titles in turn)"] = [f"/books/{i}" for i in titles]
            for page, paths in pages.items():
                runs = {"hello": lambda number: wrk(hello.url, seconds)["rps"],
                        "page": functools.partial(page_rps, shop.url, page, paths, visitor_cookie, seconds, rounds)}
                if page == "/recommended/":
                    runs["aiohttp"] = lambda number: wrk(aiohttp.url, seconds)["rps"]
                    runs["ceiling"] = functools.partial(page_rps, replay.url, page, paths, visitor_cookie, seconds,
                                                        rounds)
                elif page.startswith("book page, first visits"):
                    runs["ceiling"] = lambda number: wrk(f"{hello.url}/page", seconds)["rps"]
                # A first visit measured again would find its pages kept: those rows are ours, not the issue's.
                rps = in_turn(rounds, runs, again=not page.startswith("book page, first visits"))
                median = {name: statistics.median(figures) for name, figures in rps.items()}
                what = f"{page}, {visitor}, {name}"
                least = 0.6 if page == "/recommended/" else 0.5
                rows.append(Row(f"{what} vs hello", median["page"], median["hello"], "req/s", f">= {least}",
                                ratio_at_least=least, ratio=median_ratio(rps["page"], rps["hello"])))
                if "ceiling" in rps:
                    ceiling = ("Tornado writing the shop's same answer again, nothing else" if "aiohttp" in rps
                               else "bare Tornado + Jinja2 rendering its 12-book page on every request, no database")
                    rows.append(Row(f"{ceiling} (next to {what})", median["ceiling"], median["hello"], "req/s",
                                    "ceiling: x hello", ratio=median_ratio(rps["ceiling"], rps["hello"])))
                if "aiohttp" in rps:
                    rows.append(Row(f"aiohttp + aiohttp-jinja2 page, 12 books, no database (next to {what})",
                                    median["aiohttp"], median["hello"], "req/s", "reference: x hello",
                                    ratio=median_ratio(rps["aiohttp"], rps["hello"])))
                    rows.append(Row(f"{what} vs aiohttp", median["page"], median["aiohttp"], "req/s", ">= 1.0",
                                    ratio_at_least=1.0, ratio=median_ratio(rps["page"], rps["aiohttp"])))
    return rows


def measure(seconds: float = 2, rounds: int = 3, books: int = 20_000) -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        starter = Path(folder) / "starter"
        rows = measure_catalog("12 books", starter, STARTER_ISBNS, seconds, rounds)
        large = Path(folder) / "large" / "data"
        large.parent.mkdir()
        _, catalog = import_catalog(large, books)
        wanted = len(STARTER_ISBNS) + 2 * FIRST_VISITS
        sample = random.Random(3).sample([row["isbn"] for row in catalog], min(wanted, len(catalog)))
        # The same number of titles as the starter catalog has, so that the two rows differ only by
        # the catalog's size; and the first visits to many, which differ by rendering each page.
        return rows + measure_catalog(f"{len(catalog):,} books", large, sample[:len(STARTER_ISBNS)], seconds, rounds,
                                      first_visits=sample[len(STARTER_ISBNS):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per wrk run (max 30)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure, medians kept (max 7)")
    parser.add_argument("--books", type=int, default=20_000, help="the benchmark catalog (max 50,000)")
    args = parser.parse_args()
    print_table(measure(min(args.seconds, 30.0), min(args.rounds, 7), min(args.books, 50_000)))


if __name__ == "__main__":
    main()
