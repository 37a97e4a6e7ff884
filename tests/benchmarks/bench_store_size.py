"""A store's real size on the embedded default: 20,000 books and 10,000 abandoned carts, one process.

    .venv/bin/python -m tests.benchmarks.bench_store_size [--books 20000] [--carts 10000]
        [--seconds 10] [--mixed-seconds 60]

1. generate the benchmark catalog and import it with `burts-books import` (timed);
2. leave --carts abandoned carts behind (one copy each, never checked out);
3. start the shop (timed, to the first answer);
4. wrk, one thread, 50 connections: p50/p99 of bare Tornado's "hello world" (reference_hello,
   the most any handler can do here), a book page (rotating over the catalog), /recommended/,
   /books/, a search for a common word, and POST /cart adding a copy; each first with every
   connection always waiting (the throughput; with 50 always waiting the p50 is 50 / req/s), then
   with its 50 connections pausing between requests to ask half that throughput (the latency);
5. a mixed load (pages, searches, cart adds and removes) with one staff edit a second, both ways:
   the longest event-loop stall (the shop's loop-lag probe) and the shop's memory.

The shop runs with its abuse limits lifted (tests.shop_process.LIFTED_LIMITS): all load comes from 127.0.0.1.

Needs wrk (`apt-get install wrk`). Loopback only, bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from burts_books.carts import SoldOut
from burts_books.infra.config import Settings
from burts_books.services import open_services
from tests.benchmarks.harness import SHOP, Reference, get_script, lua_list, paced, rss_kib, wrk
from tests.constants import PASSWORD, STAFF_EMAIL
from tests.shop_client import ShopClient
from tests.shop_process import LIFTED_LIMITS, SHOP_COMMAND, ShopProcess, run_cli, shop_environment

COMMON_WORD = "castle"  # a word of the generated titles (make_catalog.WORDS)
SAMPLE = 2000  # ISBNs the load rotates over


def shell(*command: str, timeout: float = 600) -> float:
    start = time.monotonic()
    subprocess.run(command, check=True, env=shop_environment(), timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - start


def import_catalog(data_dir: Path, books: int) -> tuple[float, list[dict]]:
    catalog = data_dir.parent / "catalog.csv"
    shell(sys.executable, "-m", "tests.benchmarks.make_catalog", "--books", str(books), "--seed", "7",
          "--output", str(catalog))
    seconds = shell(*SHOP_COMMAND, "import", str(catalog), f"--data-dir={data_dir}")
    with open(catalog, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return seconds, rows


async def abandon_carts(data_dir: Path, isbns: list[str], count: int) -> None:
    services = await open_services(Settings(data_dir=data_dir))
    rng = random.Random(11)

    async def abandon(n: int) -> None:
        with contextlib.suppress(SoldOut):
            # Each visitor from an address of its own, so the shop's limits don't count them together.
            await services.carts.add(None, None, rng.choice(isbns), f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")

    try:
        for start in range(0, count, 200):
            await asyncio.gather(*(abandon(n) for n in range(start, start + 200)))
    finally:
        await services.close()


def cart_script(xsrf: str, isbns: list[str], mixed_paths: list[str] | None = None) -> str:
    """POST /cart adds (each from a new visitor); with `mixed_paths`, pages and removes too."""
    return f"""
local isbns = {lua_list(isbns)}
local paths = {lua_list(mixed_paths or [])}
local added = {{}}
local cart = nil
local adds = 0
local VISITOR_ADDS = 5  -- a shopper's cart holds a few books, as in a shop
local i = 0
local function cart_post(action, isbn)
  local headers = {{["Content-Type"] = "application/x-www-form-urlencoded", ["Accept"] = "application/json",
                   ["X-XSRFToken"] = "{xsrf}", ["Cookie"] = "_xsrf={xsrf}" .. (cart and ("; cart=" .. cart) or "")}}
  return wrk.format("POST", "/cart", headers, "action=" .. action .. "&isbn=" .. isbn)
end
request = function()
  i = i + 1
  local isbn = isbns[i % #isbns + 1]
  if #paths == 0 then return cart_post("add", isbn) end
  local roll = math.random(100)
  if roll <= 15 then
    if adds == VISITOR_ADDS then  -- this shopper leaves their cart; the next one starts afresh
      cart, added, adds = nil, {{}}, 0
    end
    adds = adds + 1
    table.insert(added, isbn)
    return cart_post("add", isbn)
  elseif roll <= 20 and #added > 0 then
    return cart_post("remove", table.remove(added, 1))
  end
  return wrk.format("GET", paths[i % #paths + 1])
end
response = function(status, headers, body)
  local cookie = headers["Set-Cookie"]
  if #paths > 0 and cart == nil and cookie ~= nil then
    cart = string.match(cookie, 'cart="?([^";]+)')
  end
end
"""


async def xsrf_token(url: str) -> str:
    return await ShopClient(AsyncHTTPClient(), url).xsrf_token()


async def signed_in_staff(url: str) -> ShopClient:
    client = ShopClient(AsyncHTTPClient(), url)
    await client.login(STAFF_EMAIL)
    return client


async def staff_edits(client: ShopClient, rows: list[dict], seconds: float) -> int:
    """One staff edit a second, by a member of staff already signed in: the price of a book goes up a cent."""
    edits, deadline = 0, time.monotonic() + seconds
    rng = random.Random(5)
    while time.monotonic() < deadline:
        row = rng.choice(rows)
        current = (await client.get(f"/api/books/{row['isbn']}")).json()
        form = {**row, "price": f"{(current['price_cents'] + 1) / 100:.2f}", "stock_seen": row["stock"]}
        response = await client.post(f"/edit/{row['isbn']}", form)
        assert response.code in (302, 303), (response.code, response.text[:500])
        edits += 1
        await asyncio.sleep(1)
    return edits


def start_timed(data_dir: Path) -> tuple[ShopProcess, float]:
    start = time.monotonic()
    shop = ShopProcess(data_dir, *LIFTED_LIMITS, command=SHOP).start()  # on the server core, as hello
    return shop, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=20_000)
    parser.add_argument("--carts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per measured page (max 30)")
    parser.add_argument("--mixed-seconds", type=float, default=60.0, help="mixed load (max 120)")
    args = parser.parse_args()
    seconds, mixed_seconds = min(args.seconds, 30.0), min(args.mixed_seconds, 120.0)

    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        import_seconds, rows = import_catalog(data_dir, args.books)
        print(f"import of {len(rows)} books from CSV: {import_seconds:.1f} s")
        isbns = [row["isbn"] for row in rows]
        start = time.monotonic()
        asyncio.run(abandon_carts(data_dir, isbns, args.carts))
        print(f"{args.carts} abandoned carts left in {time.monotonic() - start:.1f} s")
        result = run_cli("create-user", STAFF_EMAIL, "--staff", data_dir=data_dir, stdin=PASSWORD + "\n")
        assert result.returncode == 0, result.stderr

        shop, startup = start_timed(data_dir)
        print(f"start-up with {len(rows)} books: {startup:.2f} s to the first answer")
        sample = random.Random(3).sample(isbns, min(SAMPLE, len(isbns)))
        # Adds go to books with copies enough for the run: a sold-out refusal is not an add.
        on_sale = [row["isbn"] for row in rows if int(row["stock"]) >= 20]
        add_sample = random.Random(4).sample(on_sale, min(SAMPLE, len(on_sale)))
        try:
            xsrf = asyncio.run(xsrf_token(shop.url))
            measured = {
                "book page": get_script([f"/books/{isbn}" for isbn in sample]),
                "/recommended/": get_script(["/recommended/"]),
                "/books/ page 1": get_script(["/books/"]),
                f"search '{COMMON_WORD}'": get_script([f"/books/?q={COMMON_WORD}"]),
                "POST /cart add": cart_script(xsrf, add_sample),
            }
            print(f"{'what':24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
                  f"   paced: {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
            with Reference("reference_hello") as hello:
                print_both("bare Tornado hello", hello.url, seconds)
            for name, script in measured.items():
                print_both(name, shop.url, seconds, script)
        finally:
            shop.stop()

        pages = [f"/books/{isbn}" for isbn in sample[:200]] + ["/recommended/", "/books/", "/",
                                                             f"/books/?q={COMMON_WORD}", "/books/?q=data"]
        full = mixed_load(data_dir, rows, sample, pages, mixed_seconds)
        mixed_load(data_dir, rows, sample, pages, mixed_seconds, paced_to=full["rps"] / 2)


def print_both(name: str, url: str, seconds: float, script: str = "") -> None:
    """One wrk with every connection always waiting, then one paced to half the throughput it measured."""
    full = wrk(url, seconds, script)
    half = wrk(url, seconds, script + paced(full["rps"] / 2))
    print(f"{name:24} {full['rps']:8.0f} {full['p50']:8.2f} {full['p99']:8.2f} {full['non_2xx'] + half['non_2xx']:8d}"
          f"   paced: {half['rps']:8.0f} {half['p50']:8.2f} {half['p99']:8.2f}")


def mixed_load(data_dir: Path, rows: list[dict], sample: list[str], pages: list[str], seconds: float,
               paced_to: float | None = None) -> dict:
    """The mixed load on a shop started afresh, its connections always waiting or `paced_to` req/s."""
    shop, _ = start_timed(data_dir)
    try:
        xsrf = asyncio.run(xsrf_token(shop.url))
        script = cart_script(xsrf, sample, pages) + (paced(paced_to) if paced_to else "")

        async def mixed():
            # Signed in before the load: a sign-in is no part of it, and its password hash
            # (argon2, 0.3 s of CPU in a thread) would share the shop's one core with the loop.
            staff = await signed_in_staff(shop.url)
            load = asyncio.get_running_loop().run_in_executor(None, wrk, shop.url, seconds, script)
            edits = await staff_edits(staff, rows, seconds)
            return await load, edits

        figures, edits = asyncio.run(mixed())
        memory = rss_kib(shop.process.pid) / 1024
    finally:
        shop.stop()
    stall = re.findall(r"longest stall ([\d.]+) ms .* CPU time ([\d.]+) ms", shop.log())
    how = f"paced to {paced_to:.0f} req/s" if paced_to else "connections always waiting"
    print(f"mixed load {seconds:.0f} s, {how}: {figures['rps']:.0f} req/s, p50 {figures['p50']:.2f} ms,"
          f" p99 {figures['p99']:.2f} ms, {edits} staff edits; longest event-loop stall"
          f" {stall[-1][0] if stall else '?'} ms (in the loop's CPU time {stall[-1][1] if stall else '?'} ms);"
          f" memory {memory:.0f} MiB")
    return figures


if __name__ == "__main__":
    main()
