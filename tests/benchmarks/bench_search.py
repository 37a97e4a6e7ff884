"""Search at a real shop's size, in-process on the catalog view: how long its indexes take to build,
a search's first page by relevance and by price, a misspelt word's suggestion, an edit.

    .venv/bin/python -m tests.benchmarks.bench_search [--books 20000] [--seed 7]

The books are make_catalog's (2-8 word titles, 300-1500 character descriptions); no shop
process, no database: the view reads them from a list as it would from a scan.
"""

import argparse
import asyncio
import datetime
import statistics
import time

from burts_books.catalog import parse_book_form
from burts_books.catalog_view import CatalogView
from tests.benchmarks import make_catalog

QUERIES = [["castle"], ["castl", "river"], ["c"], ["the"]]
MISSPELT = ["castel", "rivr", "zzzzzz"]
REPEATS = 5


class Books:
    """What the view reads at start: a database's scan of the books, from a list."""

    books = None

    def __init__(self, documents: list[dict]):
        self.documents = documents

    async def scan(self, collection: str):
        for document in self.documents:
            yield document


class NoBus:
    def subscribe(self, handler) -> None:
        pass

    def on_reconnect(self, handler) -> None:
        pass


def documents(count: int, seed: int) -> list[dict]:
    found = []
    start = datetime.datetime(2026, 1, 1)
    for number, raw in enumerate(make_catalog.books(count, seed)):
        book = parse_book_form(raw)
        book.update(available=book["stock"], inventory_version=1, catalog_version=1,
                    date_added=start + datetime.timedelta(seconds=number))
        found.append(book)
    return found


def median_ms(work) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    books = documents(args.books, args.seed)

    view = CatalogView(Books(books), NoBus())  # type: ignore[arg-type]
    started = time.perf_counter()
    await view.load()
    print(f"indexing titles, subtitles, authors, ISBNs at start: {time.perf_counter() - started:.2f} s")
    await asyncio.gather(*view._tasks)
    print(f"and descriptions, in the background: {time.perf_counter() - started:.2f} s in all")

    for terms in QUERIES:
        for sort in ("relevance", "price"):
            total = view.search(terms, sort, 0, 12)[1]
            print(f"search {' '.join(terms)!r} ({total} books), first page by {sort}: "
                  f"p50 {median_ms(lambda: view.search(terms, sort, 0, 12)):.1f} ms")  # noqa: B023
    for word in MISSPELT:
        print(f"suggestion for {word!r} ({view.closest_word(word)}): "
              f"p50 {median_ms(lambda: view.closest_word(word)):.1f} ms")  # noqa: B023

    edits = []
    for book in books[:50]:
        edited = {**book, "title": book["title"] + " again"}
        started = time.perf_counter()
        view._put(edited)
        view.search(["castle"], "relevance", 0, 12)
        edits.append(time.perf_counter() - started)
    print(f"a staff edit, then the next search: p50 {statistics.median(edits) * 1000:.1f} ms, "
          f"at most {max(edits) * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
