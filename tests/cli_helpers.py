"""Running `burts-books` as an operator would, and opening the store it wrote."""

import contextlib
import subprocess
import sys

from burts_books.app import open_current_database
from burts_books.config import Settings
from tests.shop_process import shop_environment


def run_cli(data_dir, *args, password=None):
    """Run `burts-books ARGS --data-dir=DATA_DIR` with a clean environment; the password goes to stdin."""
    return subprocess.run(
        [sys.executable, "-m", "burts_books", *args, f"--data-dir={data_dir}"],
        input=password or "", capture_output=True, text=True, env=shop_environment(), cwd=data_dir,
        timeout=60,
    )


def refusal(result):
    """The one line a refused command ends its error output with (log lines may come first)."""
    assert result.returncode == 2, result
    return result.stderr.strip().splitlines()[-1]


@contextlib.asynccontextmanager
async def store(data_dir):
    db = await open_current_database(Settings(data_dir=data_dir))
    try:
        yield db
    finally:
        await db.close()
