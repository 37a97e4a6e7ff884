"""The embedded store at a real shop's size: point lookups and updates stay flat, the event loop
never waits on compaction, start-up stays short, and writes in flight share their fdatasync.

    .venv/bin/python -m tests.benchmarks.bench_store [--books 20000] [--carts 10000]

Builds its stores in temporary folders; the HTTP part starts real shop processes on 127.0.0.1.
"""

import argparse
import asyncio
import datetime
import gc
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from burts_books.catalog import keywords_for
from burts_books.infra.clock import utcnow
from burts_books.infra.config import Settings
from burts_books.infra.event_loop import loop_factory
from burts_books.services import open_current_database
from tests.constants import PCI, isbn_13
from tests.shop_client import ShopClient
from tests.shop_process import LIFTED_LIMITS, ShopProcess

CHUNK = 1000
WORDS = ["tornado", "python", "web", "async", "shop", "book", "stock", "cart", "order", "live", "socket", "poll",
         "queue", "cache"]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def a_book(number: int, rng: random.Random) -> dict:
    title = " ".join(rng.choices(WORDS, k=4)).title()
    book = {"isbn": isbn_13(number), "title": title, "subtitle": "", "author": "A. Writer",
            "image": "/static/images/no-cover.svg", "date_released": "2026",
            "description": " ".join(rng.choices(WORDS, k=80)), "price_cents": 1999, "stock": 100_000}
    moment = utcnow() - datetime.timedelta(minutes=number)
    return dict(book, available=100_000, inventory_version=1, keywords=keywords_for(book), date_added=moment,
                updated_at=moment, updated_by="bench")


def a_cart(number: int, isbns: list, rng: random.Random) -> dict:
    moment = utcnow() - datetime.timedelta(minutes=rng.randint(0, 600))
    return {"_id": secrets.token_urlsafe(18), "status": "open" if number % 10 else "expired",
            "holds": {rng.choice(isbns): 1}, "revision": 1, "user_id": None,
            "created_at": moment, "touched_at": moment}


async def fill(settings: Settings, books: int, carts: int) -> None:
    rng = random.Random(1)
    db = await open_current_database(settings)
    try:
        for start in range(0, books, CHUNK):
            await db.books.insert_many([a_book(n, rng) for n in range(start, min(books, start + CHUNK))])
        isbns = [isbn_13(n) for n in range(min(books, 1000))] or [PCI]
        for start in range(0, carts, CHUNK):
            await db.carts.insert_many([a_cart(n, isbns, rng) for n in range(start, min(carts, start + CHUNK))])
    finally:
        await db.close()


async def timed(operations: int, operation) -> str:
    times = []
    for number in range(operations):
        start = time.perf_counter()
        await operation(number)
        times.append(time.perf_counter() - start)
    quantiles = statistics.quantiles(times, n=100)
    return f"p50 {ms(quantiles[49])}  p99 {ms(quantiles[98])}"


async def point_operations(settings: Settings, books: int, operations: int) -> dict[str, str]:
    db = await open_current_database(settings)
    try:
        rng = random.Random(2)
        isbns = [isbn_13(rng.randrange(books)) for _ in range(operations)] if books else [PCI] * operations
        carts = [cart["_id"] for cart in await db.carts.find({}, {"_id": 1}).to_list(None)] or ["none"]
        cart_ids = [rng.choice(carts) for _ in range(operations)]
        return {
            "find_one by isbn": await timed(operations, lambda n: db.books.find_one({"isbn": isbns[n]})),
            "take a copy (conditional update by isbn)": await timed(operations, lambda n: db.books.find_one_and_update(
                {"isbn": isbns[n], "available": {"$gt": 0}}, {"$inc": {"available": -1, "inventory_version": 1}})),
            "open cart by _id": await timed(operations, lambda n: db.carts.find_one(
                {"_id": cart_ids[n], "status": "open"})),
            "touch cart (update by _id)": await timed(operations, lambda n: db.carts.update_one(
                {"_id": cart_ids[n], "status": "open"}, {"$set": {"touched_at": utcnow()}})),
        }
    finally:
        await db.close()


class LoopStalls:
    """The longest the event loop was kept from a 1 ms timer, while running."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.001
            await asyncio.sleep(0.001)
            self.longest = max(self.longest, loop.time() - due)

    def stop(self) -> float:
        self._task.cancel()
        return self.longest


async def compaction_stall(settings: Settings) -> tuple[float, float, float, int]:
    """(compaction time, longest loop stall during it, longest stall doing the same writes without it, writes)."""
    db = await open_current_database(settings)
    gc.freeze()  # as `serve` does after start-up, so a full collection's pause is not counted
    try:
        carts = [cart["_id"] for cart in await db.carts.find({}, {"_id": 1}).limit(100).to_list(None)]

        async def writes_until(done) -> int:
            count = 0
            while not done():
                await db.carts.update_one({"_id": carts[count % len(carts)]}, {"$set": {"touched_at": utcnow()}})
                count += 1
            return count

        start = time.perf_counter()
        stalls = LoopStalls()
        compaction = asyncio.ensure_future(db.store.compact())
        writes = await writes_until(compaction.done)
        await compaction
        elapsed, during = time.perf_counter() - start, stalls.stop()

        stalls = LoopStalls()
        deadline = time.perf_counter() + elapsed
        await writes_until(lambda: time.perf_counter() > deadline)
        return elapsed, during, stalls.stop(), writes
    finally:
        await db.close()
        gc.unfreeze()


async def group_commit(settings: Settings, writers: int, seconds: float) -> tuple[float, float]:
    """(acknowledged writes per second, writes per fdatasync) with `writers` writing at once."""
    db = await open_current_database(settings)
    try:
        carts = [cart["_id"] for cart in await db.carts.find({}, {"_id": 1}).limit(writers).to_list(None)]
        syncs = db.store.journal.syncs
        deadline = time.perf_counter() + seconds
        counts = [0] * len(carts)

        async def writer(number: int) -> None:
            while time.perf_counter() < deadline:
                await db.carts.update_one({"_id": carts[number]}, {"$inc": {"revision": 1}})
                counts[number] += 1

        await asyncio.gather(*(writer(n) for n in range(len(carts))))
        return sum(counts) / seconds, sum(counts) / max(1, db.store.journal.syncs - syncs)
    finally:
        await db.close()


def collection_pause() -> float:
    start = time.perf_counter()
    gc.collect()
    return time.perf_counter() - start


async def load_time(settings: Settings) -> tuple[float, float, float]:
    """(seconds to open the store, a full garbage collection's pause then, and once frozen as `serve` does)."""
    start = time.perf_counter()
    db = await open_current_database(settings)
    elapsed = time.perf_counter() - start
    pause = collection_pause()
    gc.freeze()
    frozen = collection_pause()
    gc.unfreeze()
    await db.close()
    return elapsed, pause, frozen


async def cart_requests(url: str, requests: int) -> str:
    """One shopper's POST /cart, alternately adding a copy and taking it out again."""
    client = ShopClient(AsyncHTTPClient(), url)
    await client.get("/login")

    async def add_or_remove(number: int) -> None:
        action = "remove" if number % 2 else "add"
        response = await client.post("/cart", {"action": action, "isbn": PCI}, headers={"Accept": "application/json"})
        assert response.code == 200, response.text

    return await timed(requests, add_or_remove)


def shop_start(data_dir: Path) -> tuple[float, ShopProcess]:
    start = time.perf_counter()
    shop = ShopProcess(data_dir, *LIFTED_LIMITS).start()  # every request comes from one address
    return time.perf_counter() - start, shop


async def journal_short_of_compaction(settings: Settings) -> int:
    """Touch carts, 100 writes at a time, until the journal is almost big enough to be compacted."""
    db = await open_current_database(settings)
    try:
        await db.store.compact()
        carts = [cart["_id"] for cart in await db.carts.find({}, {"_id": 1}).to_list(None)]
        rng = random.Random(3)
        limit = 0.95 * max(settings.store_compact_bytes, (settings.store_dir / "snapshot").stat().st_size)
        writes = 0
        while db.store.journal.writer.durable < limit:
            await asyncio.gather(*(db.carts.update_one(
                {"_id": rng.choice(carts)}, {"$set": {"touched_at": utcnow()}, "$inc": {"revision": 1}})
                for _ in range(100)))
            writes += 100
        return writes
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=20_000, help="at most 100000")
    parser.add_argument("--carts", type=int, default=10_000, help="at most 100000")
    parser.add_argument("--operations", type=int, default=2000)
    args = parser.parse_args()
    books, carts = min(args.books, 100_000), min(args.carts, 100_000)

    with tempfile.TemporaryDirectory() as small_dir, tempfile.TemporaryDirectory() as big_dir:
        small = Settings(data_dir=Path(small_dir), cookie_secret="b" * 40)
        big = Settings(data_dir=Path(big_dir), cookie_secret="b" * 40)
        asyncio.run(fill(small, 100, 50))
        start = time.perf_counter()
        asyncio.run(fill(big, books, carts))
        print(f"filled a store with {books} books and {carts} carts in {time.perf_counter() - start:.1f} s\n")

        print(f"point operations ({args.operations} each, awaited one at a time, fdatasync included for updates)")
        for label, settings, size in (("100 books, 50 carts", small, 100),
                                      (f"{books} books, {carts} carts", big, books)):
            print(f"  {label}:")
            for name, figures in asyncio.run(point_operations(settings, size, args.operations)).items():
                print(f"    {name:42} {figures}")

        # On the loop a shop process serves on: starting the compaction's process costs what that loop makes it.
        with asyncio.Runner(loop_factory=loop_factory(big.event_loop)) as runner:
            elapsed, during, without, writes = runner.run(compaction_stall(big))
        print(f"\ncompaction at {books} books + {carts} carts: {elapsed:.2f} s in a subprocess, {writes} writes "
              f"served meanwhile; longest event-loop stall {ms(during)} (the same writes alone: {ms(without)})")
        asyncio.run(compaction_stall(big))  # snapshot only, so start-up below reads no journal
        loading, pause, frozen = asyncio.run(load_time(big))
        print(f"start-up: the store loads in {loading:.2f} s in-process; a full garbage collection then "
              f"pauses {ms(pause)}, {ms(frozen)} once start-up's objects are frozen (as `serve` does)")

        for label, data_dir in (("100 books, 50 carts", small_dir), (f"{books} books, {carts} carts", big_dir)):
            started, shop = shop_start(Path(data_dir))
            try:
                figures = asyncio.run(cart_requests(shop.url, 400))
            finally:
                shop.stop()
            print(f"shop process on {label}: answers {started:.2f} s after it starts; "
                  f"POST /cart: {figures}")

        print("\ngroup commit (updates by _id, each awaited until durable)")
        for writers in (1, 10, 100):
            per_second, per_sync = asyncio.run(group_commit(big, writers, 3.0))
            print(f"  {writers:3} writers: {per_second:7.0f} writes/s, {per_sync:5.1f} writes per fdatasync")

        writes = asyncio.run(journal_short_of_compaction(big))
        print(f"\nstart-up with {writes} writes in the journal (just short of a compaction): "
              f"{asyncio.run(load_time(big))[0]:.2f} s in-process")


if __name__ == "__main__":
    main()
