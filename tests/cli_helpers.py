"""What the command-line tests share: reading a refusal, and opening the store a command wrote."""

import contextlib

from burts_books.infra.config import Settings
from burts_books.services import open_current_database


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
