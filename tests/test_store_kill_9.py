"""Every write the shop acknowledged survives kill -9, whenever it comes: a real process, a real SIGKILL."""

import asyncio
import dataclasses
import itertools
import json
import os
import random
import signal

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from tests.constants import PASSWORD, STAFF_EMAIL, isbn_13
from tests.shop_client import ShopClient
from tests.shop_process import ShopProcess, run_cli

ROUNDS = 4
WRITES = 200  # acknowledged writes a round makes at most; the kill comes after a random number of them
WORKERS = 6  # requests in flight when it comes
PCI = "9780596529321"
# Small, so that compactions run (and get killed) too.
FLAGS = ("--store-compact-bytes=32768",)


@dataclasses.dataclass
class Acknowledged:
    books: set = dataclasses.field(default_factory=set)  # ISBNs whose adding was answered with success
    available: int = 0  # the highest count a restock was answered with


async def writes_until_killed(shop: ShopProcess, kill_after: int, done: Acknowledged, numbers) -> None:
    client = ShopClient(AsyncHTTPClient(max_clients=WORKERS), shop.url)
    await client.login(STAFF_EMAIL)
    answered = 0

    async def restock():
        response = await client.fetch(
            f"/api/books/{PCI}/restock", method="POST", body=json.dumps({"copies": 1}),
            headers={"Content-Type": "application/json", "X-XSRFToken": client.cookies["_xsrf"]},
        )
        assert response.code == 200, response.text
        done.available = max(done.available, response.json()["book"]["available"])

    async def add_book():
        isbn = isbn_13(next(numbers))
        response = await client.post("/add", {"isbn": isbn, "title": f"Book {isbn}", "author": "A. Writer",
                                              "price": "10", "stock": "2"})
        assert response.code == 303, response.text
        done.books.add(isbn)

    async def worker(number: int) -> None:
        nonlocal answered
        writes = itertools.cycle([add_book, restock] if number % 2 else [restock, add_book])
        while shop.process.returncode is None:
            try:
                await next(writes)()
            except (OSError, HTTPClientError):
                if shop.process.poll() is None:
                    raise
                return  # the connection died with the shop: that write was never acknowledged
            answered += 1
            if answered == kill_after:
                shop.process.send_signal(signal.SIGKILL)
                shop.process.wait()

    await asyncio.gather(*(worker(number) for number in range(WORKERS)))


async def missing(shop: ShopProcess, done: Acknowledged) -> list[str]:
    """What the restarted shop lost of what it acknowledged."""
    client = ShopClient(AsyncHTTPClient(max_clients=10), shop.url)
    found = await asyncio.gather(*(client.get(f"/api/books/{isbn}") for isbn in sorted(done.books)))
    lost = [f"book {isbn}" for isbn, response in zip(sorted(done.books), found, strict=True) if response.code != 200]
    available = (await client.get(f"/api/books/{PCI}")).json()["available"]
    if available < done.available:
        lost.append(f"restocks: {available} copies, {done.available} acknowledged")
    return lost


def test_every_acknowledged_write_survives_kill_9(tmp_path):
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    created = run_cli("create-user", STAFF_EMAIL, "--staff", data_dir=tmp_path, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    shop = ShopProcess(tmp_path, *FLAGS)
    done = Acknowledged()
    numbers = itertools.count()
    try:
        for _ in range(ROUNDS):
            shop.start()
            assert asyncio.run(missing(shop, done)) == [], f"random seed {seed}"
            asyncio.run(writes_until_killed(shop, rng.randint(1, WRITES), done, numbers))
        shop.start()
        assert asyncio.run(missing(shop, done)) == [], f"random seed {seed}"
    finally:
        shop.stop()
    assert len(done.books) > ROUNDS and done.available > 12
