"""The embedded store: every acknowledged write on disk, kept across restarts, owned by one process at a time."""

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import bson
import pymongo
import pytest
from bson import ObjectId, json_util

from burts_books.infra import migrations, slices
from burts_books.infra.db import StoreBusy, open_database
from burts_books.infra.embedded import store as store_module
from burts_books.infra.embedded.frames import frame
from burts_books.infra.embedded.journal import JournalWriter, segment_numbers
from burts_books.infra.errors import ValidationError
from tests.constants import PASSWORD, PCI, SHOPPER_EMAIL, STAFF_EMAIL, UNKNOWN_ISBN
from tests.shop_process import run_cli
from tests.store import age_carts, everything, running_shop, set_stock
from tests.waiting import until

NEW_BOOK = {"isbn": UNKNOWN_ISBN, "title": "Kept Safe", "author": "Ada Writer", "price": "10", "stock": "3"}


def files(folder) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


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
async def test_a_write_is_on_disk_as_soon_as_it_returns(embedded, tmp_path):
    async with running_shop(embedded) as shop:
        await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
        # What a process killed right now would leave behind: no saving on the way out.
        crashed = dataclasses.replace(embedded, data_dir=tmp_path / "after-crash")
        shutil.copytree(embedded.store_dir, crashed.store_dir)

    async with running_shop(crashed) as shop:
        assert (await shop.catalog.get(UNKNOWN_ISBN))["title"] == "Kept Safe"


@pytest.mark.gen_test
async def test_a_write_whose_caller_stops_waiting_is_still_kept(embedded):
    async with running_shop(embedded) as shop:
        given_up = asyncio.ensure_future(shop.db.carts.insert_one({"_id": "given-up", "status": "open"}))
        await asyncio.sleep(0)  # made and queued for the journal; its caller now waits
        given_up.cancel()
        # A journal that tripped over the cancelled wait would never answer the next write.
        await asyncio.wait_for(shop.db.carts.insert_one({"_id": "after", "status": "open"}), 5)
        assert given_up.cancelled()

    async with running_shop(embedded) as shop:
        assert sorted(await shop.db.carts.distinct("_id")) == ["after", "given-up"]


@pytest.mark.gen_test
async def test_a_write_that_changes_nothing_is_answered_once_the_write_it_rests_on_is_on_disk(
        embedded, tmp_path, monkeypatch):
    crashed = dataclasses.replace(embedded, data_dir=tmp_path / "after-crash")
    append = JournalWriter.append

    def slow_append(writer, data):  # a disk that takes its time to sync
        time.sleep(0.3)
        append(writer, data)

    async with running_shop(embedded) as shop:
        monkeypatch.setattr(JournalWriter, "append", slow_append)
        placed = asyncio.ensure_future(shop.db.carts.insert_one({"_id": "cart", "status": "ordered"}))
        await asyncio.sleep(0)  # made, and on its way to the disk
        # Another request (the shopper's retry, say) finds the cart already so, and is answered:
        retried = await shop.db.carts.update_one({"_id": "cart"}, {"$set": {"status": "ordered"}})
        assert retried.matched_count == 1
        shutil.copytree(embedded.store_dir, crashed.store_dir)  # what kill -9 right now leaves
        await placed

        syncs = shop.db.store.journal.syncs
        await shop.db.carts.update_one({"_id": "cart"}, {"$set": {"status": "ordered"}})
        assert shop.db.store.journal.syncs == syncs  # with nothing on its way, no wait for the disk

    async with running_shop(crashed) as shop:
        assert await shop.db.carts.find_one({"_id": "cart"}) == {"_id": "cart", "status": "ordered"}


def fields_in_order(document: dict) -> list[str]:
    # BSON puts _id first in a stored document, wherever a write put it.
    return [field for field in document if field != "_id"]


def journal_bytes(settings) -> int:
    return sum(path.stat().st_size for path in settings.store_dir.glob("journal-*"))


@pytest.mark.gen_test
async def test_a_stock_change_journals_the_fields_it_changed_not_the_whole_book(embedded):
    description = "<p>" + "A long description of the book. " * 60 + "</p>"
    async with running_shop(embedded) as shop:
        await shop.db.books.update_one({"isbn": PCI}, {"$set": {"description": description}})
        book_size = len(bson.encode(await shop.db.books.find_one({"isbn": PCI})))
        before = journal_bytes(embedded)
        await shop.db.books.update_one({"isbn": PCI}, {"$inc": {"available": -1, "inventory_version": 1}})
        # A cart add takes a copy: the journal grows by the two counts, not by the 2 KB book.
        assert book_size > 2000 and journal_bytes(embedded) - before < 200
        expected = await shop.db.books.find_one({"isbn": PCI})

    async with running_shop(embedded) as shop:
        found = await shop.db.books.find_one({"isbn": PCI})
        assert found == expected and fields_in_order(found) == fields_in_order(expected)


@pytest.mark.gen_test
async def test_every_kind_of_update_comes_back_after_a_restart_as_it_was(embedded):
    async with running_shop(embedded) as shop:
        carts = shop.db.carts
        await carts.insert_many([{"_id": f"cart-{n}", "status": "open", "holds": {PCI: n}, "tags": ["a"], "n": n,
                                  "note": "x"} for n in range(3)])
        await carts.update_one({"_id": "cart-0"}, {"$inc": {f"holds.{PCI}": 2, "copies": 1},
                                                   "$set": {"touched_at": datetime.datetime(2026, 12, 2)},
                                                   "$unset": {"note": ""}})
        await carts.update_one({"_id": "cart-0"}, {"$unset": {"missing": ""}})  # changes nothing
        await carts.update_many({}, {"$push": {"tags": "b"}, "$max": {"n": 1}})
        await carts.update_one({"_id": "cart-1"}, {"$pull": {"tags": "a"}, "$addToSet": {"tags": "c"},
                                                   "$currentDate": {"seen": True}})
        await carts.update_one({"_id": "cart-2"}, {"$rename": {"note": "memo"}})
        await carts.replace_one({"_id": "cart-1"}, {"status": "ordered", "holds": {}})
        await carts.find_one_and_update({"_id": "cart-2"}, {"$set": {"status": "expired", "lapsed": {PCI: 2}}})
        await carts.bulk_write([pymongo.UpdateOne({"_id": "cart-0"}, {"$unset": {"tags": ""}}),
                                pymongo.UpdateOne({"_id": "cart-0"}, {"$set": {"status": "expired"}})])
        await carts.update_one({"_id": "new"}, {"$set": {"status": "open"}}, upsert=True)
        await carts.delete_one({"_id": "cart-1"})
        expected = await everything(shop.db)
        orders = [fields_in_order(cart) for cart in await carts.find().to_list(None)]

    async with running_shop(embedded) as shop:
        assert await everything(shop.db) == expected
        assert [fields_in_order(cart) for cart in await shop.db.carts.find().to_list(None)] == orders


@pytest.mark.gen_test
async def test_writes_in_flight_together_share_fdatasyncs(embedded):
    async with running_shop(embedded) as shop:
        journal = shop.db.store.journal
        syncs = journal.syncs
        await asyncio.gather(*(shop.db.carts.insert_one({"_id": f"cart-{n}", "status": "open"}) for n in range(50)))
        # The first writer to wait sends its write at once; the 49 made while it is on disk share the next.
        assert journal.syncs == syncs + 2

    async with running_shop(embedded) as shop:
        assert await shop.db.carts.count_documents({}) == 50


@pytest.mark.gen_test
async def test_a_second_process_is_refused_while_one_owns_the_store(embedded):
    owner = await open_database(embedded)
    try:
        with pytest.raises(StoreBusy) as busy:
            await open_database(embedded)
        message = str(busy.value)
        assert str(embedded.store_dir) in message
        assert f"in use by process {os.getpid()}; stop that process first" in message
    finally:
        await owner.close()

    second = await open_database(embedded)  # free again once the owner has closed it
    await second.close()


@pytest.mark.gen_test
async def test_a_record_cut_short_at_the_end_of_the_journal_is_dropped_with_a_warning(embedded, caplog):
    async with running_shop(embedded) as shop:
        await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
    [segment] = embedded.store_dir.glob("journal-*")
    intact = segment.read_bytes()
    torn = frame(bson.encode({"ops": [{"c": "books", "put": {"_id": "torn", "isbn": "9780000000002"}}]}))[:-5]
    segment.write_bytes(intact + torn)

    with caplog.at_level(logging.WARNING, logger="burts_books.infra.embedded"):
        async with running_shop(embedded) as shop:
            assert (await shop.catalog.get("9781234567897"))["title"] == "Kept Safe"
            assert await shop.db.books.find_one({"_id": "torn"}) is None
            await shop.db.books.update_one({"isbn": "9781234567897"}, {"$set": {"title": "Still Kept"}})
    assert f"{segment} ends in a record cut short ({len(torn)} bytes at byte {len(intact)})" in caplog.text
    assert segment.read_bytes().startswith(intact) and not segment.read_bytes().startswith(intact + torn[:8])

    async with running_shop(embedded) as shop:
        assert (await shop.catalog.get("9781234567897"))["title"] == "Still Kept"


@pytest.mark.gen_test
async def test_a_damaged_snapshot_stops_the_start_with_one_line_and_is_left_as_it_is(embedded):
    async with running_shop(embedded) as shop:
        await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
        await shop.db.store.compact()
    snapshot = embedded.store_dir / "snapshot"
    damaged = bytearray(snapshot.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    snapshot.write_bytes(damaged)
    before = files(embedded.store_dir)

    result = run_cli("serve", f"--data-dir={embedded.data_dir}", "--cookie-secret=" + "s" * 40, "--port=1")

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"burts-books serve: the embedded store file {snapshot} is damaged (bad checksum")
    assert result.stderr.endswith(
        f"and was left as it is: restore the store from a backup (losing the writes made since), "
        f"or move the folder {embedded.store_dir} away to start an empty store (losing everything in it)\n"
    )
    assert files(embedded.store_dir) == before


@pytest.mark.gen_test
@pytest.mark.parametrize("zeros", [20, 4096])
async def test_a_zero_filled_tail_left_by_a_crash_is_dropped_too(embedded, caplog, zeros):
    """Power lost mid-append: the file grew, its data never landed."""
    async with running_shop(embedded) as shop:
        await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
    [segment] = embedded.store_dir.glob("journal-*")
    intact = segment.read_bytes()
    segment.write_bytes(intact + bytes(zeros))

    with caplog.at_level(logging.WARNING, logger="burts_books.infra.embedded"):
        async with running_shop(embedded) as shop:
            assert (await shop.catalog.get(UNKNOWN_ISBN))["title"] == "Kept Safe"
            await shop.db.books.update_one({"isbn": UNKNOWN_ISBN}, {"$set": {"title": "Still Kept"}})
    assert f"{segment} ends in a record cut short ({zeros} bytes at byte {len(intact)})" in caplog.text

    async with running_shop(embedded) as shop:
        assert (await shop.catalog.get(UNKNOWN_ISBN))["title"] == "Still Kept"


@pytest.mark.gen_test
@pytest.mark.parametrize("flipped", [1, 20], ids=["in its length", "in its data"])
async def test_a_damaged_record_with_acknowledged_ones_after_it_stops_the_start_and_is_left_as_it_is(
        embedded, flipped):
    async with running_shop(embedded) as shop:
        await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
        await shop.accounts.register(SHOPPER_EMAIL, PASSWORD)
    [segment] = embedded.store_dir.glob("journal-*")
    damaged = bytearray(segment.read_bytes())
    damaged[flipped] ^= 0x01  # one bit of the first record
    segment.write_bytes(damaged)
    before = files(embedded.store_dir)

    result = run_cli("serve", f"--data-dir={embedded.data_dir}", "--cookie-secret=" + "s" * 40, "--port=1")

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        f"burts-books serve: the embedded store file {segment} is damaged "
        "(bad record at byte 0, with intact records after it) and was left as it is: "
    )
    assert "(losing everything in it)" in result.stderr  # moving it away is not offered as harmless
    # After a power loss, what follows may be one write never finished, nothing of it acknowledged:
    # the operator, who knows, is told how to keep everything before it.
    assert f"`truncate -s 0 {segment}` keeps every record before it" in result.stderr
    assert files(embedded.store_dir) == before


@pytest.mark.gen_test
async def test_store_files_are_for_their_owner_only(embedded):
    embedded.store_dir.mkdir(mode=0o755)
    embedded.store_dir.chmod(0o755)  # as an older version (or a umask) may have left it
    async with running_shop(embedded) as shop:
        await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
        await shop.db.store.compact()
        await shop.accounts.register(SHOPPER_EMAIL, PASSWORD)

    assert stat.S_IMODE(embedded.store_dir.stat().st_mode) == 0o700
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in embedded.store_dir.iterdir()}
    assert set(modes) == {"snapshot", "journal-00000002"}
    assert set(modes.values()) == {0o600}
    assert stat.S_IMODE(embedded.store_dir.with_suffix(".lock").stat().st_mode) == 0o600


def legacy_dump() -> str:
    """A store as the one-file format (embedded-store.json) kept it: indexes, then documents."""
    applied = datetime.datetime(2026, 11, 1)
    return json_util.dumps({
        "books": {
            "indexes": [{"key": [["isbn", 1]], "options": {"name": "isbn_1", "unique": True}}],
            "documents": [{"_id": ObjectId(), "isbn": "9781234567897", "title": "Kept Safe", "stock": 3,
                           "available": 3, "inventory_version": 1, "date_added": applied}],
        },
        "migrations": {
            "indexes": [],
            "documents": [{"_id": path.stem, "applied_at": applied} for path in migrations.available()],
        },
    }, indent=1, sort_keys=True)


@pytest.mark.gen_test
async def test_an_embedded_store_json_is_imported_on_first_open(embedded):
    legacy = embedded.data_dir / "embedded-store.json"
    dump = legacy_dump()
    legacy.write_text(dump)
    legacy.chmod(0o644)
    async with running_shop(embedded) as shop:
        assert await shop.db.books.count_documents({}) == 1  # the seed is not run again
        assert (await shop.catalog.get("9781234567897"))["title"] == "Kept Safe"
        with pytest.raises(ValidationError, match="already in the catalog"):
            await shop.catalog.add(NEW_BOOK, STAFF_EMAIL)
        await shop.db.books.update_one({"isbn": "9781234567897"}, {"$set": {"title": "Changed Since"}})
    assert not legacy.exists()
    kept = embedded.data_dir / "embedded-store.json.imported"
    assert kept.read_text() == dump
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600

    async with running_shop(embedded) as shop:  # imported once, not again
        assert (await shop.catalog.get("9781234567897"))["title"] == "Changed Since"


@pytest.mark.gen_test
async def test_writes_made_while_a_compaction_runs_are_kept(embedded):
    async with running_shop(embedded) as shop:
        carts = shop.db.carts
        await carts.insert_many([{"_id": f"cart-{n}", "n": 0} for n in range(100)])
        compaction = asyncio.ensure_future(shop.db.store.compact())
        rounds = 0
        while not compaction.done():  # each round changes data, so waits on the journal
            await carts.update_many({}, {"$inc": {"n": 1}})
            if rounds < 50:
                await carts.delete_one({"_id": f"cart-{rounds}"})
            rounds += 1
        await compaction
        assert rounds > 1
        expected = await everything(shop.db)
    assert {path.name for path in embedded.store_dir.iterdir()} == {"snapshot", "journal-00000002"}

    async with running_shop(embedded) as shop:
        assert await everything(shop.db) == expected


def compactions_running() -> list[int]:
    """This process's children that are compactions."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):
                if b"embedded.compaction" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
    return found


async def write_past_compaction(shop) -> None:
    """Writes enough that a shop on `store_compact_bytes=1` starts compacting in the background."""
    await shop.db.carts.insert_many([{"_id": f"cart-{n}", "n": n} for n in range(2000)])
    await shop.db.carts.update_one({"_id": "cart-0"}, {"$set": {"n": -1}})


@pytest.mark.gen_test(timeout=30)
async def test_a_shop_closing_while_its_compaction_runs_stops_it_and_keeps_everything(embedded):
    async with running_shop(dataclasses.replace(embedded, store_compact_bytes=1)) as shop:
        await write_past_compaction(shop)
        await until(compactions_running)
        expected = await everything(shop.db)
    assert compactions_running() == []  # killed and waited for, not left behind
    async with running_shop(embedded) as shop:
        assert await everything(shop.db) == expected


@pytest.mark.gen_test(timeout=30)
async def test_a_shop_closing_while_its_compaction_is_being_started_stops_it_too(embedded, monkeypatch):
    starting = asyncio.Event()
    started = []
    loop = asyncio.get_running_loop()
    popen = subprocess.Popen

    def slow_popen(*args, **kwargs):  # the start takes a while, in its thread
        loop.call_soon_threadsafe(starting.set)
        time.sleep(0.3)
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(store_module.subprocess, "Popen", slow_popen)
    async with running_shop(dataclasses.replace(embedded, store_compact_bytes=1)) as shop:
        await write_past_compaction(shop)
        await starting.wait()
        expected = await everything(shop.db)
    await until(lambda: started and started[0].poll() is not None)
    assert started[0].returncode == -signal.SIGKILL  # stopped, not left to work on a store closed under it
    monkeypatch.undo()
    async with running_shop(embedded) as shop:
        assert await everything(shop.db) == expected


@pytest.mark.gen_test
async def test_a_compaction_killed_part_way_leaves_a_store_that_opens_whole(embedded):
    async with running_shop(embedded) as shop:
        await shop.db.store.compact()
        for n in range(300):
            await shop.db.carts.insert_one({"_id": f"cart-{n}", "holds": {"9780596529321": n}})
        expected = await everything(shop.db)

    rng = random.Random()
    for _ in range(5):
        through = segment_numbers(embedded.store_dir)[-1]
        compaction = subprocess.Popen(  # noqa: ASYNC220 -- killed at once; nothing to wait for
            [sys.executable, "-m", "burts_books.infra.embedded.compaction", str(embedded.store_dir), str(through),
             str(os.getpid())],
        )
        await asyncio.sleep(rng.uniform(0, 0.6))
        compaction.send_signal(signal.SIGKILL)
        compaction.wait()
        async with running_shop(embedded) as shop:
            assert await everything(shop.db) == expected


def test_a_compaction_yields_the_cpu_to_the_server(tmp_path):
    # It shares the server's core: at the lowest priority it takes only what the server leaves.
    code = ("import os, sys; from burts_books.infra.embedded import compaction; "
            "compaction.compact = lambda folder, through: print(os.nice(0)); compaction.main(sys.argv[1:])")
    ran = subprocess.run([sys.executable, "-c", code, str(tmp_path), "1", str(os.getpid())],
                         capture_output=True, text=True, check=True, timeout=60)
    assert ran.stdout.strip() == "19"


@pytest.mark.parametrize("criteria", [{}, {"status": "open", "touched_at": {"$lt": datetime.datetime(2026, 1, 20)}},
                                      {"$or": [{"n": {"$lt": 10}}, {"status": {"$in": ["expired", "ordered"]}}]}])
@pytest.mark.gen_test
async def test_a_scan_reads_what_a_query_reads_and_lets_requests_run_meanwhile(services, monkeypatch, criteria):
    monkeypatch.setattr(slices, "SLICE", 0.0)  # the thinnest slice: one document a turn of the loop
    await services.db.carts.insert_many(
        [{"_id": f"cart-{n:04d}", "status": ("open", "expired", "ordered")[n % 3], "holds": {PCI: n % 3}, "n": n,
          "touched_at": datetime.datetime(2026, 1, 1 + n % 30)} for n in range(1000)])
    seen: list[dict] = []
    others_ran_after: list[int] = []

    async def another_request():
        others_ran_after.append(len(seen))

    other = asyncio.ensure_future(another_request())
    async for cart in services.db.scan("carts", ("_id", "holds"), criteria):
        seen.append(cart)
    await other
    assert others_ran_after[0] < len(seen), "the scan held the event loop from start to end"
    expected = await services.db.carts.find(criteria, {"_id": 1, "holds": 1}).to_list(None)
    assert expected and sorted(seen, key=lambda cart: cart["_id"]) == sorted(expected, key=lambda cart: cart["_id"])
    seen[0]["holds"][PCI] = 99  # a copy: changing it changes nothing stored
    assert (await services.db.carts.find_one({"_id": seen[0]["_id"]}))["holds"][PCI] != 99


@pytest.mark.gen_test
async def test_a_cart_add_waits_for_the_disk_once_for_all_its_writes(embedded):
    async with running_shop(embedded) as shop:
        journal = shop.db.store.journal
        syncs = journal.syncs
        cart, _ = await shop.carts.add(None, None, PCI, "10.0.0.1")  # a new cart: four writes
        assert journal.syncs == syncs + 1
        cart, _ = await shop.carts.remove(cart, PCI)
        assert journal.syncs == syncs + 2
    async with running_shop(embedded) as shop:  # and all of them were on disk
        assert (await shop.carts.find(cart.id, None)).holds == {}
        assert (await shop.inventory.state(PCI))["version"] == 3


@pytest.mark.gen_test(timeout=30)
async def test_many_idle_carts_expire_with_one_wait_for_the_disk_a_hundred(embedded, monkeypatch):
    # A shop back after a quarter of an hour finds every visitor's cart idle at once.
    monkeypatch.setattr(slices, "SLICE", 60)  # no turn given to others mid-batch, whose writes would go to disk then
    async with running_shop(embedded) as shop:
        await set_stock(shop, 500)
        for n in range(150):
            await shop.carts.add(None, None, PCI, f"10.0.{n >> 8}.{n & 255}")
        await age_carts(shop, 3600)
        syncs = shop.db.store.journal.syncs
        assert await shop.carts.expire_idle(datetime.timedelta(hours=1), datetime.timedelta(minutes=10)) == 150
        assert shop.db.store.journal.syncs - syncs == 2
        assert (await shop.db.books.find_one({"isbn": PCI}))["available"] == 500

    async with running_shop(embedded) as shop:  # and all of it was on disk
        assert await shop.db.carts.count_documents({"status": "expired"}) == 150
        assert (await shop.db.books.find_one({"isbn": PCI}))["available"] == 500
