"""Live inventory under load, on one embedded-mode process:

1. a cart rush: N shoppers (each its own cart) add the same book at once,
   with fewer copies than shoppers; checks that exactly `copies` succeed;
2. fan-out: W WebSocket watchers on one book; how long from a shopper's
   cart change until every watcher has the new count.

    .venv/bin/python -m tests.benchmarks.bench_live_inventory [--shoppers 200] [--watchers 200]

Bounded in count and time, aimed at 127.0.0.1 only.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time

from tornado.httpclient import AsyncHTTPClient

from tests.constants import PASSWORD, PCI, STAFF_EMAIL
from tests.shop_client import ShopClient
from tests.shop_process import ShopProcess, run_cli
from tests.websocket_client import connect, subscribe


async def restock_to(client: ShopClient, copies_wanted: int) -> int:
    """Top the book up through the staff API so at least `copies_wanted` are available."""
    book = (await client.get(f"/api/books/{PCI}")).json()
    missing = copies_wanted - book["available"]
    if missing > 0:
        response = await client.post_json(f"/api/books/{PCI}/restock", {"copies": missing})
        assert response.code == 200, response.text
        return response.json()["book"]["available"]
    return book["available"]


def address(n: int) -> str:
    """The n-th shopper's network address: a crowd, unlike an attack, comes from many."""
    return f"10.0.{n // 256}.{n % 256}"


async def cart_rush(http, url: str, shoppers: int, copies: int) -> None:
    clients = [ShopClient(http, url, address(n)) for n in range(shoppers)]
    await asyncio.gather(*(c.get("/login") for c in clients))  # each gets its XSRF cookie first
    start = time.monotonic()
    answers = await asyncio.gather(
        *(c.cart_json("add") for c in clients)
    )
    elapsed = time.monotonic() - start
    codes = [a.code for a in answers]
    left = (await clients[0].get(f"/api/books/{PCI}")).json()["available"]
    print(f"cart rush: {shoppers} concurrent adds for {copies} copies in {elapsed:.2f} s "
          f"({shoppers / elapsed:.0f} adds/s): {codes.count(200)} added, {codes.count(409)} sold out, "
          f"{left} left")
    if codes.count(200) != copies or codes.count(409) != shoppers - copies or left != 0:
        raise SystemExit("OVERSOLD OR UNDERSOLD: the counts above are wrong")


async def until_version(ws, version: int) -> None:
    """Read this watcher's messages until it has seen `version` (older ones are coalesced away)."""
    while True:
        message = await ws.read_message()
        if message is None:
            raise RuntimeError("the server closed a watcher's connection")
        if json.loads(message)["version"] >= version:
            return


async def fan_out(http, url: str, watchers: int, rounds: int, staff: ShopClient) -> None:
    await restock_to(staff, rounds)
    current = (await staff.get(f"/api/books/{PCI}")).json()["version"]
    sockets = await asyncio.gather(*(connect(url) for _ in range(watchers)))
    for ws in sockets:
        subscribe(ws, [PCI])
    await asyncio.gather(*(until_version(ws, current) for ws in sockets))
    shopper = ShopClient(http, url)
    latencies = []
    for round_number in range(rounds):
        # Add and remove in turn: a cart holds at most ten copies of a title.
        action = "remove" if round_number % 2 else "add"
        start = time.monotonic()
        answer = await shopper.cart_json(action)
        assert answer.code == 200, answer.text
        version = answer.json()["book"]["version"]
        await asyncio.gather(*(until_version(ws, version) for ws in sockets))
        latencies.append(time.monotonic() - start)
    for ws in sockets:
        ws.close()
    q = statistics.quantiles(latencies, n=100)
    print(f"fan-out: cart change -> all {watchers} watchers updated, over {rounds} changes: "
          f"p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms")


async def run(url: str, args) -> None:
    http = AsyncHTTPClient(max_clients=args.shoppers)
    staff = ShopClient(http, url)
    await staff.login(STAFF_EMAIL)
    copies = await restock_to(staff, args.copies)
    await cart_rush(http, url, args.shoppers, copies)
    await fan_out(http, url, args.watchers, args.rounds, staff)


def main() -> None:
    parser = argparse.ArgumentParser(description="live inventory under load")
    parser.add_argument("--shoppers", type=int, default=200, help="concurrent adds (max 1000)")
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--watchers", type=int, default=200, help="WebSocket clients (max 1000)")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    args.shoppers, args.watchers = min(args.shoppers, 1000), min(args.watchers, 1000)
    with tempfile.TemporaryDirectory() as data_dir:
        created = run_cli("create-user", STAFF_EMAIL, "--staff", data_dir=data_dir, stdin=PASSWORD + "\n")
        if created.returncode:
            raise SystemExit(created.stderr)
        # --xheaders: each shopper says its address in X-Real-IP, as nginx would. The fan-out's one
        # shopper changes its cart as fast as it can, which the shop would otherwise slow down.
        with ShopProcess(data_dir, "--xheaders", "--cart-adds-per-minute=100000") as shop:
            asyncio.run(asyncio.wait_for(run(shop.url, args), timeout=120))


if __name__ == "__main__":
    main()
