"""Migrations: each applied once, in order, even when two processes start together."""

import asyncio
import datetime
import textwrap

import pytest
from mongomock_motor import AsyncMongoMockClient

from burts_books.infra import migrations, resources
from burts_books.infra.clock import utcnow
from burts_books.infra.config import Settings
from burts_books.infra.db import Database, DuplicateKeyError, open_database
from tests.constants import PCI, RESTFUL, STAFF_EMAIL, UNKNOWN_ISBN

ALL = [path.stem for path in migrations.available()]

# A migration that counts its runs, slowly enough for two callers to overlap.
COUNTING = """
import asyncio

async def up(db):
    await asyncio.sleep(0.05)
    await db.runs.update_one({"_id": __name__}, {"$inc": {"count": 1}}, upsert=True)
"""
FAILING = """
async def up(db):
    raise RuntimeError("disk full")
"""


def write_migrations(directory, **sources):
    """Files NNNN_name.py in `directory` from keyword arguments name=source."""
    for name, source in sources.items():
        (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return directory


def utc_now_plus(**delta):
    return utcnow() + datetime.timedelta(**delta)


async def run_counts(db):
    return {doc["_id"].rsplit("_migration_", 1)[1]: doc["count"] for doc in await db.runs.find().to_list(None)}


@pytest.fixture
def server_db(empty_db):
    """A database that several processes share: MONGODB_URL's server, or else mongomock's own (no embedded store)."""
    return Database(AsyncMongoMockClient(), "burts_books") if empty_db.embedded else empty_db


@pytest.mark.gen_test
async def test_migrate_applies_everything_once_then_nothing(empty_db):
    assert ALL[:2] == ["0001_create_indexes", "0002_seed_starter_catalog"]
    assert await migrations.pending(empty_db) == ALL
    assert await migrations.migrate(empty_db) == ALL
    assert await migrations.migrate(empty_db) == []
    assert await migrations.pending(empty_db) == []
    assert await empty_db.books.count_documents({}) == 12


@pytest.mark.gen_test
async def test_two_processes_migrating_together_apply_each_migration_once(empty_db, tmp_path):
    folder = write_migrations(tmp_path, **{"0001_first": COUNTING, "0002_second": COUNTING})
    ran = await asyncio.gather(migrations.migrate(empty_db, folder), migrations.migrate(empty_db, folder))
    assert sorted(ran) == [[], ["0001_first", "0002_second"]]
    assert await run_counts(empty_db) == {"0001_first": 1, "0002_second": 1}


@pytest.mark.gen_test
async def test_a_failed_migration_is_not_recorded_and_runs_again_next_time(empty_db, tmp_path):
    folder = write_migrations(tmp_path, **{"0001_first": COUNTING, "0002_broken": FAILING})
    with pytest.raises(RuntimeError, match="disk full"):
        await migrations.migrate(empty_db, folder)
    assert await migrations.pending(empty_db, folder) == ["0002_broken"]

    write_migrations(tmp_path, **{"0002_broken": COUNTING})  # the fix ships
    assert await migrations.migrate(empty_db, folder, wait=0) == ["0002_broken"]  # lock was released
    assert await run_counts(empty_db) == {"0001_first": 1, "0002_broken": 1}


@pytest.mark.gen_test
async def test_a_lock_left_by_a_dead_process_is_taken_over_once_expired(server_db, tmp_path):
    folder = write_migrations(tmp_path, **{"0001_first": COUNTING})
    expired = utc_now_plus(seconds=-1)
    await server_db.migrations.insert_one({"_id": migrations.LOCK_ID, "owner": "dead", "expires": expired})
    assert await migrations.migrate(server_db, folder, wait=1) == ["0001_first"]


@pytest.mark.gen_test
async def test_a_live_lock_makes_migrate_wait_then_give_up_without_applying(server_db, tmp_path):
    folder = write_migrations(tmp_path, **{"0001_first": COUNTING})
    held = utc_now_plus(minutes=1)
    await server_db.migrations.insert_one({"_id": migrations.LOCK_ID, "owner": "busy", "expires": held})
    with pytest.raises(migrations.MigrationsBusy) as busy:
        await migrations.migrate(server_db, folder, wait=0.3)
    assert str(busy.value) == (
        "another process has been migrating the database for over 0.3 s: let it finish, then run this again "
        "(the lock of one that died lapses 120 s after it was taken)"
    )
    assert await run_counts(server_db) == {}


@pytest.mark.gen_test
async def test_the_embedded_store_takes_over_at_once_a_lock_another_process_left(tmp_path):
    # Another process's lock in the embedded store is one killed part-way: the store's file lock lets one
    # process at a time open it. Waiting for that lock to expire would stall the next start for two minutes.
    db = await open_database(Settings(data_dir=tmp_path), persist=False)
    folder = write_migrations(tmp_path, **{"0001_first": COUNTING})
    held = utc_now_plus(seconds=migrations.LOCK_SECONDS)
    await db.migrations.insert_one({"_id": migrations.LOCK_ID, "owner": "killed", "expires": held})
    assert await migrations.migrate(db, folder, wait=0) == ["0001_first"]
    assert await db.migrations.find_one({"_id": migrations.LOCK_ID}) is None
    await db.close()


@pytest.mark.gen_test
async def test_ensure_current_refuses_a_database_that_is_behind(empty_db):
    await empty_db.migrations.insert_one({"_id": ALL[0], "applied_at": datetime.datetime(2026, 1, 1)})
    with pytest.raises(migrations.MigrationsPending) as behind:
        await migrations.ensure_current(empty_db)
    assert str(behind.value) == (
        f"the database is missing migrations {', '.join(ALL[1:])}: run `burts-books migrate`"
    )
    await migrations.migrate(empty_db)
    await migrations.ensure_current(empty_db)  # no longer raises


@pytest.mark.gen_test
async def test_seed_catalog_has_the_books_of_the_tornado_book_with_their_covers(services):
    books = await services.db.books.find({}, {"_id": 0}).to_list(None)
    assert len(books) == 12
    titles = {book["isbn"]: book["title"] for book in books}
    assert titles[PCI] == "Programming Collective Intelligence"
    assert titles[RESTFUL] == "RESTful Web Services"
    for book in books:
        assert (resources.STATIC / book["image"].removeprefix("/static/")).is_file(), book["image"]
        assert book["available"] == book["stock"] > 0
        assert book["isbn"] in book["keywords"]


@pytest.mark.gen_test
async def test_running_the_seed_again_never_overwrites_a_staff_edit(services):
    books = services.db.books
    await books.update_one({"isbn": PCI}, {"$set": {"title": "Edited by staff"}})
    await services.db.migrations.delete_one({"_id": "0002_seed_starter_catalog"})
    assert await migrations.migrate(services.db) == ["0002_seed_starter_catalog"]
    assert (await books.find_one({"isbn": PCI}))["title"] == "Edited by staff"
    assert await books.count_documents({}) == 12


@pytest.mark.parametrize(
    "collection, document",
    [("books", {"isbn": UNKNOWN_ISBN}), ("users", {"email": STAFF_EMAIL})],
)
@pytest.mark.gen_test
async def test_indexes_keep_isbns_and_emails_unique(services, collection, document):
    await services.db.db[collection].insert_one({**document, "copy": 1})
    with pytest.raises(DuplicateKeyError):
        await services.db.db[collection].insert_one({**document, "copy": 2})


@pytest.mark.settings(max_copies_per_cart=3)
@pytest.mark.gen_test
async def test_a_cart_from_before_carts_counted_copies_is_counted_and_capped(services, client):
    assert (await client.cart_json("add", PCI)).code == 200
    assert (await client.cart_json("add", RESTFUL)).code == 200
    # As an older shop left it: holds (and an add under way), no count.
    await services.db.carts.update_many({}, {"$unset": {"copies": ""}, "$set": {"adding": {PCI: 1}}})
    await services.db.migrations.delete_one({"_id": "0007_cart_copies_counted"})
    assert await migrations.migrate(services.db) == ["0007_cart_copies_counted"]
    [cart] = await services.db.carts.find().to_list(None)
    assert cart["copies"] == 3
    refused = await client.cart_json("add", RESTFUL)
    assert refused.code == 409 and "at most 3 copies" in refused.json()["error"]["message"]


@pytest.mark.gen_test
async def test_accounts_without_an_email_never_collide_and_emails_stay_unique(services):
    users = services.db.users
    await users.insert_one({"name": "Ada, signed in with X"})
    await users.insert_one({"name": "Grace, signed in with X"})
    # Run again, the social sign-in migration changes nothing.
    await migrations._load(migrations.MIGRATIONS_DIR / "0008_social_sign_in.py").up(services.db)
    assert (await users.index_information())["email_1"]["sparse"] is True
    await users.insert_one({"email": STAFF_EMAIL})
    with pytest.raises(DuplicateKeyError):
        await users.insert_one({"email": STAFF_EMAIL})
    assert await users.count_documents({}) == 3
