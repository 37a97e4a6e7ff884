"""Goal 4 of the speed issue: two shop processes behind nginx with the Redis bus, against one
process through the same nginx; next to it the same ratio for bare Tornado hello, same run.

    .venv/bin/python -m tests.benchmarks.bench_scale_out [--seconds 4] [--runs 1] [--changes 100]

Throughput is `wrk -t1 -c50` through nginx on the shop's book page (anonymous). Nothing is
pinned: nginx, wrk and the servers share the machine's cores, so on a 2-core machine even bare
Tornado gains well under 2x; the shop's gain is judged against bare Tornado's measured here.
Then the latency of the live feed across processes: --changes cart adds and removes on one
process, each timed from sending the request until a WebSocket subscriber on the other process
has the new count (and on the same process, for comparison).

Each shop process runs on an embedded store of its own (there is no MongoDB server here),
seeded alike, so what crosses between them is what Redis carries. Loopback only, bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from tests.benchmarks.harness import Reference, Row, best_of, get_script, print_table, wrk
from tests.constants import COOKIE_SECRET, PCI
from tests.nginx_server import Nginx
from tests.redis_server import RedisServer
from tests.shop_client import ShopClient
from tests.shop_process import LIFTED_LIMITS, ShopProcess
from tests.websocket_client import connect, receive, subscribe


def throughput(ports: list[int], folder: Path, path: str, seconds: float, runs: int) -> float:
    nginx = Nginx(folder, ports)
    try:
        url = nginx.start().url
        figures = best_of(runs, lambda: wrk(url + path, seconds, get_script([path]), pin=False))
    finally:
        nginx.stop()
    assert figures["non_2xx"] == 0, figures
    return figures["rps"]


async def until_version(socket, version: int) -> float:
    while (await receive(socket))["version"] < version:
        pass
    return time.monotonic()


async def delivery(a: ShopProcess, b: ShopProcess, changes: int) -> tuple[list[float], list[float]]:
    """Milliseconds from each change's request on `a` to its arrival on `b`, and on `a` itself."""
    shopper = ShopClient(AsyncHTTPClient(), a.url)
    there, here = await connect(b.url), await connect(a.url)
    for socket in (there, here):
        subscribe(socket, [PCI])
        await receive(socket)
    other, same = [], []
    for n in range(changes):
        start = time.monotonic()
        answer = await shopper.cart_json("add" if n % 2 == 0 else "remove")
        assert answer.code == 200, answer.text
        version = answer.json()["book"]["version"]
        arrived_there, arrived_here = await asyncio.gather(until_version(there, version), until_version(here, version))
        other.append((arrived_there - start) * 1000)
        same.append((arrived_here - start) * 1000)
    there.close()
    here.close()
    return other, same


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def measure(seconds: float = 4, runs: int = 1, changes: int = 100) -> list[Row]:
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        with Reference("reference_hello", pin=False) as one, Reference("reference_hello", pin=False) as two:
            hello_one = throughput([one.port], folder / "nginx-hello-1", "/", seconds, runs)
            hello_two = throughput([one.port, two.port], folder / "nginx-hello-2", "/", seconds, runs)
        redis = RedisServer(folder)
        redis.start()
        flags = (*LIFTED_LIMITS, "--xheaders", f"--redis-url={redis.url}", f"--cookie-secret={COOKIE_SECRET}")
        try:
            with ShopProcess(folder / "a", *flags) as a, ShopProcess(folder / "b", *flags) as b:
                page = f"/books/{PCI}"
                shop_one = throughput([a.port], folder / "nginx-shop-1", page, seconds, runs)
                shop_two = throughput([a.port, b.port], folder / "nginx-shop-2", page, seconds, runs)
                other, same = asyncio.run(delivery(a, b, changes))
        finally:
            with contextlib.suppress(Exception):
                redis.stop()
    gain, hello_gain = shop_two / shop_one, hello_two / hello_one
    scale = Row("2 processes / 1 behind nginx, book page (req/s ratio) vs bare hello's", gain, hello_gain, "x",
                ">= 1.6, or hello's gain here")
    scale.met = gain >= 1.6 or gain >= 0.95 * hello_gain
    across = [there - here for there, here in zip(other, same, strict=True)]
    crossing = Row(f"change -> subscriber on the other process, p99 of {changes}, after the same process's "
                   "subscriber has it (vs that, from the request)", p99(across), p99(same), "ms", "<= 50 ms")
    crossing.met = crossing.ours <= 50
    return [
        Row("book page, 1 shop process behind nginx vs 1 hello", shop_one, hello_one, "req/s", "(context)"),
        Row("book page, 2 shop processes behind nginx vs 2 hellos", shop_two, hello_two, "req/s", "(context)"),
        scale,
        crossing,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per wrk run (max 30)")
    parser.add_argument("--runs", type=int, default=1, help="wrk runs per figure, the median kept (max 5)")
    parser.add_argument("--changes", type=int, default=100, help="changes timed (max 1,000)")
    args = parser.parse_args()
    print_table(measure(min(args.seconds, 30.0), min(args.runs, 5), min(args.changes, 1000)))


if __name__ == "__main__":
    main()
