"""Import speed and memory: generated books into a fresh embedded store.

    python -m tests.benchmarks.bench_import --books 20000 --small 5000 [--onix]

For each file (CSV, and ONIX with --onix) it prints:
- `burts-books import FILE` as a user runs it: wall time and peak RSS of the
  process, from start to the saved store (loading and saving included), and
  the same for importing the file again (everything unchanged);
- the importer's working memory, in-process on a memory-only store, for the
  small and the large file: tracemalloc's peak minus what the store keeps
  once the import is done. The importer streams, so this stays level while
  the file grows; the store itself (all books in memory, in embedded mode)
  of course grows with the catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from burts_books.importer import Importer, ImportFile, Progress, RejectsFile
from burts_books.infra.config import Settings
from burts_books.services import open_services
from tests.benchmarks.make_catalog import make_catalog
from tests.shop_process import shop_environment

MB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Memory:
    working: int  # bytes: the peak above what the store kept afterwards
    store: int  # bytes the store holds after the import
    progress: Progress


async def _traced_import(path: Path, data_dir: Path) -> Memory:
    services = await open_services(Settings(data_dir=data_dir), persist=False)
    try:
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        source = ImportFile.open(path)
        importer = Importer(services.catalog, "benchmark", RejectsFile(data_dir / "rejects.csv", source.numbered_by))
        progress = await importer.run(source)
        del importer
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return Memory(working=peak - after, store=after - before, progress=progress)
    finally:
        await services.close()


def import_memory(path: Path, data_dir: Path) -> Memory:
    """Import `path` in this process, memory measured; the store lives in memory only."""
    return asyncio.run(_traced_import(path, data_dir))


@dataclasses.dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss: int  # bytes
    output: str


def run_import(path: Path, data_dir: Path) -> Run:
    """`burts-books import PATH` in its own process, timed, with its peak resident memory."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "burts_books", "import", str(path), f"--data-dir={data_dir}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=shop_environment(), text=True,
    )
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"import failed with status {process.returncode}: {output}")
    return Run(time.monotonic() - started, usage.ru_maxrss * 1024, output.strip())


def bench(kind: str, books: int, small: int, folder: Path) -> None:
    suffix = "csv" if kind == "csv" else "xml"
    large_file = make_catalog(folder / f"catalog-{books}.{suffix}", books, kind=kind)
    small_file = make_catalog(folder / f"catalog-{small}.{suffix}", small, kind=kind)
    print(f"{kind}: {books} books, {large_file.stat().st_size / MB:.1f} MB")

    data_dir = folder / f"store-{kind}"
    for label in ("import into a fresh store", "import again (all unchanged)"):
        run = run_import(large_file, data_dir)
        print(f"  {label}: {run.seconds:.1f} s, peak RSS {run.peak_rss / MB:.0f} MB\n    {run.output}")

    for path, count in ((small_file, small), (large_file, books)):
        memory = import_memory(path, folder / f"memory-{kind}-{count}")
        print(f"  importer working memory, {count} books: {memory.working / MB:.1f} MB "
              f"(the store then holds {memory.store / MB:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=5_000, help="the smaller file, for the memory comparison")
    parser.add_argument("--onix", action="store_true", help="also an ONIX feed of the same books")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("csv", "onix") if args.onix else ("csv",):
            bench(kind, args.books, args.small, Path(folder))


if __name__ == "__main__":
    main()
