"""The embedded store: kept in a file across restarts, and owned by one process at a time."""

import contextlib
import dataclasses
import os
import shutil

import pytest

from burts_books import db as db_module
from burts_books import migrations
from burts_books.db import StoreBusy, open_database
from burts_books.errors import ValidationError
from burts_books.services import open_services
from tests.constants import PASSWORD, SHOPPER_EMAIL, STAFF_EMAIL, UNKNOWN_ISBN
from tests.waiting import until

NEW_BOOK = {"isbn": UNKNOWN_ISBN, "title": "Kept Safe", "author": "Ada Writer", "price": "10", "stock": "3"}


@pytest.fixture
def embedded(settings):
    """Settings for the embedded store in this test's own folder, even when MONGODB_URL is set."""
    return dataclasses.replace(settings, mongodb_url=None, mongodb_database="burts_books")


@contextlib.asynccontextmanager
async def running_shop(settings):
    services = await open_services(settings)
    try:
        yield services
    finally:
        await services.close()


@pytest.mark.gen_test
async def test_books_and_accounts_survive_a_restart(embedded):
    async with running_shop(embedded) as shop:
        await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
        await shop.accounts.register(SHOPPER_EMAIL, PASSWORD)

    async with running_shop(embedded) as shop:
        assert (await shop.catalog.get(UNKNOWN_ISBN))["title"] == "Kept Safe"
        assert (await shop.catalog.newest(1))[0]["isbn"] == UNKNOWN_ISBN
        assert await shop.db.books.count_documents({}) == 13  # the seed did not run again
        assert await migrations.pending(shop.db) == []
        assert await shop.accounts.authenticate(SHOPPER_EMAIL, PASSWORD)
        with pytest.raises(ValidationError, match="already in the catalog"):  # unique index kept too
            await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)


@pytest.mark.gen_test
async def test_changes_reach_the_file_while_running_so_a_crash_loses_little(embedded, tmp_path, monkeypatch):
    monkeypatch.setattr(db_module._EmbeddedStore, "SAVE_INTERVAL", 0.05)
    async with running_shop(embedded) as shop:
        await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
        saved = embedded.store_file
        await until(lambda: saved.exists() and UNKNOWN_ISBN in saved.read_text(), message="the book was never saved")
        # What a process killed now would leave behind:
        crashed = dataclasses.replace(embedded, data_dir=tmp_path / "after-crash")
        crashed.data_dir.mkdir()
        shutil.copy(embedded.store_file, crashed.store_file)

    async with running_shop(crashed) as shop:
        assert (await shop.catalog.get(UNKNOWN_ISBN))["title"] == "Kept Safe"


@pytest.mark.gen_test
async def test_a_second_process_is_refused_while_one_owns_the_store(embedded):
    owner = await open_database(embedded)
    try:
        with pytest.raises(StoreBusy) as busy:
            await open_database(embedded)
        message = str(busy.value)
        assert str(embedded.store_file) in message
        assert f"in use by process {os.getpid()}; stop that process first" in message
    finally:
        await owner.close()

    second = await open_database(embedded)  # free again once the owner has closed it
    await second.close()
