"""`make bench`: every goal of the speed issue (pages, fan-out, memory, scale-out) side by side
with its reference, measured in one run, printed as one table (Markdown, for the README).

    .venv/bin/python -m tests.benchmarks.bench_speed [--quick]

About 9 minutes on a 2-core machine (--quick: 2,000 books and connections, about 2 minutes).
Each part starts its own servers on loopback and stops them; see the scripts for each part.
"""

import argparse
import datetime
import os
import time

from tests.benchmarks import bench_fan_out, bench_page_speed, bench_scale_out
from tests.benchmarks.harness import MEASURED_AGAIN, HostWatch, pinning, print_table, stolen_seconds

WITHIN = 570.0  # seconds: `make bench` ends within 10 minutes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller catalog and fewer connections")
    args = parser.parse_args()
    size = 2_000 if args.quick else 20_000
    connections = 2_000 if args.quick else 10_000
    # Each part, how it is measured, the seconds it may spend measuring again rounds the host disturbed
    # (`harness.HostWatch`: a round or two of the closest goals, none in a quick look) and its pace on a
    # quiet host: a part measures again only while the parts left still end the run within WITHIN.
    parts = [
        ("pages", lambda: bench_page_speed.measure(seconds=2, rounds=3, books=size), 12.0, 300.0),
        ("live feed", lambda: bench_fan_out.measure(connections=connections, rounds=3, soak=6), 10.0, 165.0),
        ("scale-out", lambda: bench_scale_out.measure(seconds=4, rounds=3, changes=100), 25.0, 85.0),
    ]
    rows, took = [], {}
    stolen = sum(stolen_seconds())
    for number, (part, measure, again, _) in enumerate(parts):
        left = WITHIN - sum(took.values()) - sum(pace for *_, pace in parts[number:])
        MEASURED_AGAIN.allow(0.0 if args.quick else max(0.0, min(again, left)))
        start = time.monotonic()
        rows += measure()
        took[part] = time.monotonic() - start
    load = os.getloadavg()[0]
    print(f"\n{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"{'server and load pinned to a core each' if pinning() else 'nothing pinned'}, "
          f"load average {load:.1f} at the end, {sum(took.values()):.0f} s "
          f"({', '.join(f'{part} {seconds:.0f} s' for part, seconds in took.items())}); the host took "
          f"{(sum(stolen_seconds()) - stolen) / (sum(took.values()) * (os.cpu_count() or 1)):.0%} of the cores' time, "
          f"{MEASURED_AGAIN.rounds} rounds measured again (the host took over {HostWatch.MOST:.0%} of a core, or "
          "a lone scale-out server did not fill its core)\n")
    print_table(rows)


if __name__ == "__main__":
    main()
