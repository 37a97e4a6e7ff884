"""`burts-books backup` and `restore` for the embedded store, as an operator runs them."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import os
import re
import stat

import pytest
from PIL import Image

from burts_books import cli
from burts_books.infra.config import load_settings, with_cookie_secret
from burts_books.infra.embedded import backup as store_backup
from burts_books.orders import NUMBER_PATTERN
from tests.constants import COOKIE_SECRET, JSON, PASSWORD, PCI, RESTFUL, SHOPPER_EMAIL
from tests.shop_client import ShopClient
from tests.shop_process import LIFTED_LIMITS, ShopProcess, run_cli
from tests.store import everything, running_shop
from tests.waiting import until


async def what_a_shopper_sees(shopper: ShopClient) -> dict:
    """The catalog, the shopper's orders (their pages, as shown) and, per book, copies on sale plus in the cart."""
    books = (await shopper.get_json("/api/books?size=100"))["books"]
    orders = await shopper.get("/orders")
    assert orders.code == 200
    order_ids = re.findall(rf'href="/orders/({NUMBER_PATTERN})"', orders.text)
    order_pages = [re.search(r'<main\b.*</main>', (await shopper.get(f"/orders/{oid}")).text, re.S).group(0)
                   for oid in order_ids]
    cart = (await shopper.get("/cart", headers=JSON)).json()
    held = {item["isbn"]: item["quantity"] for item in cart["cart"]["items"]}
    return {
        "catalog": [(book["isbn"], book["title"], book["price_cents"]) for book in books],
        "orders": order_ids, "order_pages": order_pages,
        "not_ordered": {book["isbn"]: book["available"] + held.get(book["isbn"], 0) for book in books},
    }


@pytest.mark.gen_test(timeout=60)
async def test_a_backup_taken_while_the_shop_takes_writes_restores_the_same_catalog_and_orders(tmp_path, http_client):
    # Compacting at every chance, so compactions race the backup too.
    flags = (f"--cookie-secret={COOKIE_SECRET}", "--store-compact-bytes=1", *LIFTED_LIMITS)
    with ShopProcess(tmp_path / "live", *flags) as live:
        shopper = ShopClient(http_client, live.url)
        assert (await shopper.post("/register", {"email": SHOPPER_EMAIL, "password": PASSWORD})).code == 200
        await shopper.login(SHOPPER_EMAIL)
        for isbn in (RESTFUL, PCI, PCI):
            assert (await shopper.cart_json("add", isbn)).code == 200
        assert (await shopper.check_out(name="Reader")).code == 303

        writing = True
        writes = 0

        async def keep_writing():
            nonlocal writes
            while writing:
                for action in ("add", "remove"):
                    assert (await shopper.cart_json(action, RESTFUL)).code == 200
                    writes += 1

        writer = asyncio.ensure_future(keep_writing())
        await until(lambda: writes >= 20)
        backup = await asyncio.to_thread(run_cli, "backup", str(tmp_path / "backup"), data_dir=live.data_dir)
        writes_during_backup = writes
        writing = False
        await writer
        assert backup.returncode == 0, backup.stderr
        assert re.fullmatch(r"backed up \d+ documents and 0 cover files from .* to .*\n", backup.stdout)
        before = await what_a_shopper_sees(shopper)
    assert "compacting the embedded store failed" not in live.log()

    restored = tmp_path / "restored"
    restored.mkdir()  # a fresh data folder
    result = run_cli("restore", str(tmp_path / "backup"), data_dir=restored)
    assert result.returncode == 0, result.stderr
    with ShopProcess(restored, *flags) as shop:
        # The same cookie secret came back, so the shopper's session still holds.
        same_browser = ShopClient(http_client, shop.url)
        same_browser.cookies = dict(shopper.cookies)
        after = await what_a_shopper_sees(same_browser)
    assert after["catalog"] == before["catalog"] and len(after["catalog"]) == 12
    assert after["orders"] == before["orders"] and len(after["orders"]) == 1
    assert after["order_pages"] == before["order_pages"]
    # Taken mid-write, the copy is still whole: every copy is on sale, in the cart or ordered, never lost.
    assert after["not_ordered"] == before["not_ordered"]
    assert writes_during_backup > 20


@pytest.mark.gen_test(timeout=30)
async def test_a_restored_shop_shows_the_covers_staff_uploaded(embedded, tmp_path, http_client):
    picture = io.BytesIO()
    Image.linear_gradient("L").resize((300, 450)).save(picture, "PNG")
    async with running_shop(embedded) as shop:
        cover = await shop.covers.store(picture.getvalue())
        await shop.catalog.add({"isbn": "9780000000002", "title": "With a cover", "author": "A. Author",
                                "price": "10.00", "stock": "1"}, "staff@example.com", cover)
    backup = run_cli("backup", str(tmp_path / "backup"), data_dir=embedded.data_dir)
    assert backup.returncode == 0, backup.stderr
    assert re.fullmatch(r"backed up \d+ documents and 2 cover files from .* to .*\n", backup.stdout)

    restored = tmp_path / "restored"
    restored.mkdir()  # a fresh data folder, as on a new machine
    result = run_cli("restore", str(tmp_path / "backup"), data_dir=restored)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"restored \d+ documents and 2 cover files from .* into .*\n", result.stdout)
    with ShopProcess(restored, f"--cookie-secret={COOKIE_SECRET}") as shop:
        visitor = ShopClient(http_client, shop.url)
        page = await visitor.get("/books/9780000000002")
        shown = set(re.findall(r'/covers/[\w-]+\.webp', page.text))
        assert page.code == 200 and shown and shown <= set(cover.values())
        for address in shown:
            image = await visitor.get(address)
            assert image.code == 200, f"{address} is a broken image in the restored shop"
            assert image.raw.body == (embedded.covers_dir / address.removeprefix("/covers/")).read_bytes()


def test_restore_refuses_a_store_in_use_or_with_data_and_replaces_it_when_told(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    with ShopProcess(tmp_path / "busy", f"--cookie-secret={COOKIE_SECRET}"):
        assert run_cli("backup", str(tmp_path / "backup"), data_dir=tmp_path / "busy").returncode == 0
        again = run_cli("backup", str(tmp_path / "backup"), data_dir=tmp_path / "busy")
        busy = run_cli("restore", str(tmp_path / "backup"), data_dir=tmp_path / "busy")
    assert again.returncode == 2 and "is not an empty folder" in again.stderr
    assert busy.returncode == 2 and "in use by process" in busy.stderr

    refused = run_cli("restore", str(tmp_path / "backup"), data_dir=tmp_path / "busy")
    assert refused.returncode == 2 and "already holds a store; restore with --replace" in refused.stderr
    replaced = run_cli("restore", str(tmp_path / "backup"), "--replace", data_dir=tmp_path / "busy")
    assert replaced.returncode == 0, replaced.stderr

    nothing = run_cli("restore", str(tmp_path / "nowhere"), data_dir=other)
    assert nothing.returncode == 2 and "holds no backup" in nothing.stderr
    assert not (other / "embedded-store").exists()


def test_backup_points_a_mongodb_deployment_at_mongodump(tmp_path):
    result = run_cli("backup", str(tmp_path / "backup"), "--mongodb-url=mongodb://db.invalid/", data_dir=tmp_path)
    assert result.returncode == 2 and "mongodump" in result.stderr
    assert not (tmp_path / "backup").exists()


@pytest.mark.gen_test
async def test_a_backup_that_read_the_snapshot_just_before_a_compaction_replaced_it_starts_again(
        embedded, tmp_path, monkeypatch):
    async with running_shop(embedded) as shop:
        await shop.db.carts.insert_many([{"_id": f"cart-{n}", "n": n} for n in range(50)])
        stale, _ = store_backup.read_snapshot(embedded.store_dir / "snapshot") if (
            embedded.store_dir / "snapshot").exists() else ({}, 0)
        await shop.db.store.compact()  # the snapshot now holds journal segment 1, which is gone
        await shop.db.carts.update_many({}, {"$inc": {"n": 1}})  # and segment 2 has more
        expected = await everything(shop.db)

        reads = []
        real = store_backup.read_snapshot

        def read_snapshot(path):
            reads.append(path)
            # The first read sees the store as it was before the compaction finished.
            return (stale, 0) if len(reads) == 1 else real(path)

        monkeypatch.setattr(store_backup, "read_snapshot", read_snapshot)
        documents = store_backup.backup(embedded.store_dir, tmp_path / "copy")
        monkeypatch.undo()
        assert len(reads) == 2 and documents > 50

    restored = dataclasses.replace(embedded, data_dir=tmp_path / "restored")
    store_backup.restore(tmp_path / "copy", restored.store_dir, replace=False)
    async with running_shop(restored) as shop:
        assert await everything(shop.db) == expected


def test_the_cookie_secret_is_copied_owner_only_and_on_disk_both_ways(tmp_path, monkeypatch):
    """A backup's secret is what keeps sessions valid after a restore: copied whole and synced,
    name and all, before the command says it is done (as the shop writes a new one)."""
    (tmp_path / "shop").mkdir()
    made = run_cli("migrate", data_dir=tmp_path / "shop")
    assert made.returncode == 0, made.stderr
    settings = load_settings([f"--data-dir={tmp_path / 'shop'}"], {})
    with_cookie_secret(settings, logging.getLogger(__name__))  # made as the shop's first start does
    synced = []
    fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_ino), fsync(fd)))
    cli.back_up_files(settings, tmp_path / "backup")
    restored = load_settings([f"--data-dir={tmp_path / 'restored'}"], {})
    cli.restore_files(restored, tmp_path / "backup", replace=False)
    for copy in (tmp_path / "backup" / "cookie-secret", restored.cookie_secret_file):
        assert copy.read_bytes() == settings.cookie_secret_file.read_bytes()
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        assert copy.stat().st_ino in synced and copy.parent.stat().st_ino in synced
        assert not list(copy.parent.glob(".*.tmp"))
