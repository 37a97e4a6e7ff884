"""The importer on the shop's own services: stock through the inventory service, carts respected,
batches, stopping, and memory that stays level as the file grows."""

import csv

import pytest

from burts_books.catalog import book_form
from burts_books.catalog_csv import COLUMNS
from burts_books.importer import Importer, ImportFile, RejectsFile
from tests.benchmarks.bench_import import import_memory
from tests.benchmarks.make_catalog import make_catalog
from tests.constants import ADDRESS, PCI, RESTFUL, STARTER_BOOKS
from tests.store import stock_of
from tests.waiting import recorder, until

TORNADO = "9781449309077"
NEW_BOOK = {"isbn": "9780134685991", "title": "Effective Java", "subtitle": "", "author": "Joshua Bloch",
            "price": "45.99", "stock": "3", "date_released": "", "description": "", "image": ""}


def form_of(isbn, **changes):
    """The CSV fields of a starter book, with some changed."""
    return dict(book_form(next(book for book in STARTER_BOOKS if book["isbn"] == isbn)), **changes)


def write_csv(tmp_path, forms, name="books.csv"):
    path = tmp_path / name
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        writer.writerows([form[column] for column in COLUMNS] for form in forms)
    return path


async def import_csv(services, path, **options):
    source = ImportFile.open(path)
    rejects = RejectsFile(path.with_name("rejects.csv"), source.numbered_by)
    try:
        return await Importer(services.catalog, "import of books.csv", rejects, **options).run(source)
    finally:
        rejects.close()


def counts(progress):
    return progress.added, progress.updated, progress.unchanged, progress.rejected


def rejected_rows(tmp_path):
    with open(tmp_path / "rejects.csv", encoding="utf-8", newline="") as file:
        return list(csv.reader(file))[1:]


@pytest.mark.gen_test
async def test_every_change_is_announced_once_and_stock_goes_through_the_inventory_service(services, tmp_path):
    events = recorder(services.bus)
    path = write_csv(tmp_path, [
        NEW_BOOK,
        form_of(PCI, stock="20"),
        form_of(RESTFUL, subtitle="The Classic"),
        form_of(TORNADO),
    ])
    assert counts(await import_csv(services, path)) == (1, 2, 1, 0)

    await until(lambda: len(events) == 5)
    # Other processes re-read the books whose fields changed (the new one, the new subtitle) ...
    assert sorted(e["isbn"] for e in events if e.get("kind") == "book") == sorted([NEW_BOOK["isbn"], RESTFUL])
    # ... and every stock state is announced once.
    stock_events = [e for e in events if "kind" not in e]
    assert sorted(stock_events, key=lambda event: event["isbn"]) == [
        {"isbn": NEW_BOOK["isbn"], "available": 3, "version": 1},
        {"isbn": RESTFUL, "available": 9, "version": 1},  # not a stock change: the version stays
        {"isbn": PCI, "available": 20, "version": 2},
    ]
    assert await stock_of(services) == {"stock": 20, "available": 20, "inventory_version": 2}
    assert (await services.catalog.get(RESTFUL))["subtitle"] == "The Classic"


@pytest.mark.gen_test
async def test_stock_below_the_copies_in_carts_is_rejected_and_the_record_changes_nothing(services, tmp_path):
    cart, _ = await services.carts.add(None, None, PCI, ADDRESS)
    await services.carts.add(cart, None, PCI, ADDRESS)
    before = await services.catalog.get(PCI)

    too_few = write_csv(tmp_path, [form_of(PCI, stock="1", price="1.00")])
    assert counts(await import_csv(services, too_few)) == (0, 0, 0, 1)
    assert rejected_rows(tmp_path) == [
        ["2", PCI, before["title"], "stock: 2 copies are in shoppers' carts; stock can't go below 2."]]
    assert await services.catalog.get(PCI) == before

    enough = write_csv(tmp_path, [form_of(PCI, stock="2")])
    assert counts(await import_csv(services, enough)) == (0, 1, 0, 0)
    assert await stock_of(services) == {"stock": 2, "available": 0, "inventory_version": 4}


@pytest.mark.gen_test
async def test_a_book_staff_add_while_the_import_runs_is_kept_and_the_record_rejected(services, tmp_path, monkeypatch):
    staff_form = dict(NEW_BOOK, title="Effective Java, Third Edition", stock="7")
    insert_new = services.catalog._insert_new

    async def staff_adds_it_first(documents):
        await services.catalog.add(staff_form, "burt@burtsbooks.com")
        return await insert_new(documents)

    monkeypatch.setattr(services.catalog, "_insert_new", staff_adds_it_first)
    path = write_csv(tmp_path, [NEW_BOOK])
    assert counts(await import_csv(services, path)) == (0, 0, 0, 1)
    assert rejected_rows(tmp_path) == [["2", NEW_BOOK["isbn"], "Effective Java",
                                        "isbn: A book with this ISBN was added meanwhile; import again to update it."]]
    book = await services.catalog.get(NEW_BOOK["isbn"])
    assert (book["title"], book["stock"], book["updated_by"]) == (
        "Effective Java, Third Edition", 7, "burt@burtsbooks.com")


@pytest.mark.gen_test
async def test_a_duplicate_in_a_later_batch_is_rejected_too(services, tmp_path):
    path = write_csv(tmp_path, [
        NEW_BOOK,
        form_of(PCI),
        form_of(RESTFUL),
        dict(NEW_BOOK, title="Effective Java, again"),
    ])
    assert counts(await import_csv(services, path, batch_size=2)) == (1, 0, 2, 1)
    assert rejected_rows(tmp_path) == [["5", NEW_BOOK["isbn"], "Effective Java, again",
                                        "isbn: the same ISBN as line 2, the record imported for it"]]
    assert (await services.catalog.get(NEW_BOOK["isbn"]))["title"] == "Effective Java"


@pytest.mark.gen_test
async def test_stop_finishes_the_batch_being_written_and_keeps_it(services, tmp_path):
    path = make_catalog(tmp_path / "books.csv", 50)
    batches_done = []

    def stop_after_the_first_batch(progress):
        batches_done.append(progress.done)
        importer.stop()

    importer = Importer(services.catalog, "import of books.csv", RejectsFile(tmp_path / "rejects.csv", "line"),
                        on_batch=stop_after_the_first_batch, batch_size=20)
    progress = await importer.run(ImportFile.open(path))

    assert (progress.interrupted, progress.done, progress.added, progress.total) == (True, 20, 20, 50)
    assert batches_done == [20]
    isbns = [row[0] for row in list(csv.reader(path.read_text(encoding="utf-8").splitlines()))[1:]]
    in_store = {book["isbn"] async for book in services.catalog.by_isbn()}
    assert in_store == {book["isbn"] for book in STARTER_BOOKS} | set(isbns[:20])


def test_the_importers_memory_stays_level_as_the_file_grows(tmp_path):
    small = import_memory(make_catalog(tmp_path / "small.csv", 1_500), tmp_path / "small")
    large = import_memory(make_catalog(tmp_path / "large.csv", 6_000), tmp_path / "large")
    assert (small.progress.added, large.progress.added) == (1_500, 6_000)
    # The store holds four times the books; the importer's working memory (one batch, plus the
    # ISBNs seen, to refuse a duplicate: about 150 bytes a book) grows by a small part of what the
    # store keeps for each book (5-6 KB). One that kept every record would grow by more than that.
    assert large.store > 3.5 * small.store
    per_book = (large.working - small.working) / (6_000 - 1_500)
    assert per_book < large.store / 6_000 / 10, (small, large)
