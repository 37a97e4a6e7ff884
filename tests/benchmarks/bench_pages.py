"""Throughput and latency of the pages shoppers read most, on one embedded-mode process.

    .venv/bin/python -m tests.benchmarks.bench_pages [--seconds 10] [--concurrency 20]

Bounded in time and aimed at 127.0.0.1 only.
"""

import argparse
import asyncio
import statistics
import tempfile
import time

from tornado.httpclient import AsyncHTTPClient

from tests.constants import PCI
from tests.shop_process import ShopProcess

PATHS = ["/", "/recommended/", "/books/?q=python", f"/books/{PCI}", "/api/books?q=web"]


async def hammer(base_url: str, path: str, seconds: float, concurrency: int) -> list[float]:
    client = AsyncHTTPClient(max_clients=concurrency)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker():
        while time.monotonic() < deadline:
            start = time.monotonic()
            response = await client.fetch(base_url + path, raise_error=False)
            if response.code != 200:
                raise RuntimeError(f"{path} answered {response.code}")
            latencies.append(time.monotonic() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def report(path: str, latencies: list[float], seconds: float) -> None:
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"{path:28} {len(latencies) / seconds:8.0f} req/s   p50 {quantiles[49] * 1000:6.1f} ms"
          f"   p99 {quantiles[98] * 1000:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per path (max 30)")
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    seconds = min(args.seconds, 30.0)
    with tempfile.TemporaryDirectory() as data_dir, ShopProcess(data_dir) as shop:
        for path in PATHS:
            report(path, asyncio.run(hammer(shop.url, path, seconds, args.concurrency)), seconds)


if __name__ == "__main__":
    main()
