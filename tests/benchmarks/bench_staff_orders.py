"""The staff order list's queries on the embedded store as orders pile up: the first and a far page of the
unfiltered list, a status filter, a search by number, name and email; and the live list's cursor.

    .venv/bin/python -m tests.benchmarks.bench_staff_orders [--orders 20000] [--repeat 5]

Orders are written straight into a fresh store (with what placing one writes: seq, keywords, the counters),
statuses spread evenly over the four; each figure is the mean of --repeat calls of Orders.find in this process.
"""

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from burts_books.infra.clock import utcnow
from burts_books.orders import NUMBER_COUNTER, STATUS_LABELS, WRITTEN_COUNTER, keywords_for
from tests.store import close_test_services, open_test_services, shop_settings


def an_order(seq: int, moment) -> dict:
    order = {"number": f"BB-{10000 + seq}", "seq": seq, "name": f"Reader{seq} Surname{seq % 997}",
             "email": f"r{seq}@example.com", "status": list(STATUS_LABELS)[seq % 4], "total_cents": 3999,
             "lines": [{"isbn": "9780596529321", "title": "A book", "price_cents": 3999, "quantity": 1}],
             "pickup_code": "000000", "payment": {"method": "pay_at_pickup", "status": "due"},
             "created_at": moment, "history": []}
    return {**order, "keywords": keywords_for(order)}


async def main(count: int, repeat: int) -> None:
    settings = shop_settings(Path(tempfile.mkdtemp()))
    services = await open_test_services(settings)
    try:
        moment = utcnow()
        await services.db.orders.insert_many([an_order(seq, moment) for seq in range(1, count + 1)])
        for counter in (NUMBER_COUNTER, WRITTEN_COUNTER):
            await services.db.counters.insert_one({"_id": counter, "value": count})
        last = count // 2
        cases = {"first page": ("", ""), "page 400": ("", "", 400), "status ready_for_pickup": ("ready_for_pickup", ""),
                 "number": ("", f"BB-{10000 + last}"), "name": ("", "surname5"), "email": ("", f"r{last}@example.com")}
        for label, args in cases.items():
            started = time.perf_counter()
            for _ in range(repeat):
                found = await services.orders.find(*args)
            print(f"{label:>24}: {(time.perf_counter() - started) / repeat * 1000:7.1f} ms, {found.total} found")
        started = time.perf_counter()
        for _ in range(repeat):
            await services.orders.newest_seq()
        print(f"{'live cursor':>24}: {(time.perf_counter() - started) / repeat * 1000:7.1f} ms")
    finally:
        await close_test_services(settings, services)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.orders, arguments.repeat))
