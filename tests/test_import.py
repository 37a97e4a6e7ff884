"""`burts-books import FILE`: CSV and ONIX records into the catalog, run as an operator would."""

import asyncio
import csv
import fcntl
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from burts_books.catalog import NO_COVER
from tests.benchmarks.make_catalog import make_catalog
from tests.cli_helpers import refusal, store
from tests.constants import PCI, RESTFUL, STARTER_BOOKS
from tests.shop_process import run_cli, shop_environment, stop_process

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
EFFECTIVE_JAVA = "9780134685991"
K_AND_R = "9780131103627"  # given as its ISBN-10, 0-13-110362-8
CRASH_COURSE = "9781593279288"
NEVER_IMPORTED = ["9780134685990", "9780262033848", "9780132350884", "9780201633610", "9781617294136"]
DOCUMENT_FIELDS = {"_id", "isbn", "title", "subtitle", "author", "image", "date_released", "description",
                   "price_cents", "stock", "keywords", "available", "inventory_version", "catalog_version",
                   "date_added", "updated_at", "updated_by"}


def fixture(tmp_path, name):
    """A copy of tests/fixtures/NAME in the test's folder, where its rejects file will go."""
    return shutil.copy(os.path.join(FIXTURES, name), tmp_path / name)


def rows(path):
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


async def catalog(data_dir):
    async with store(data_dir) as db:
        return {book["isbn"]: book async for book in db.books.find({})}


def starter(isbn):
    return next(book for book in STARTER_BOOKS if book["isbn"] == isbn)


@pytest.mark.gen_test(timeout=60)
async def test_csv_import_adds_updates_and_rejects_and_a_second_run_changes_nothing(tmp_path):
    path = fixture(tmp_path, "books.csv")
    result = run_cli("import", str(path), data_dir=tmp_path)
    assert (result.returncode, result.stdout) == (0, (
        "imported 11 of 11 records from books.csv: added 3, updated 1, unchanged 1, rejected 6\n"
        f"rejected records and why: {path}.rejects.csv\n"))
    assert rows(f"{path}.rejects.csv") == [
        ["line", "isbn", "title", "reason"],
        ["6", "9780134685990", "Refactoring", "isbn: Not a valid ISBN: the ISBN's check digit is wrong."],
        ["7", "9780262033848", "", "title: This field is required."],
        ["8", "9780132350884", "Clean Code", "price: Give a price between 0 and 10000, like 39.99."],
        ["9", "9780201633610", "Design Patterns " + "x" * 185, "title: At most 200 characters."],
        ["10", EFFECTIVE_JAVA, "Effective Java (a later record)",
         "isbn: the same ISBN as line 2, the record imported for it"],
        ["11", "9781617294136", "Spring in Action", "6 fields where the header has 9"],
    ]

    books = await catalog(tmp_path)
    assert len(books) == len(STARTER_BOOKS) + 3 and not set(NEVER_IMPORTED) & set(books)
    java = books[EFFECTIVE_JAVA]
    assert set(java) == DOCUMENT_FIELDS  # what Catalog.add makes
    assert (java["title"], java["price_cents"], java["stock"], java["available"], java["inventory_version"],
            java["image"], java["updated_by"], java["date_added"]) == (
        "Effective Java", 4599, 8, 8, 1, NO_COVER, "import of books.csv", java["updated_at"])
    assert "bloch" in java["keywords"] and "java" in java["keywords"]
    k_and_r = books[K_AND_R]
    assert (k_and_r["description"], k_and_r["image"]) == (
        "<p>The classic tutorial.</p>", "https://covers.example.com/9780131103627.jpg")
    crash_course = books[CRASH_COURSE]
    assert (crash_course["description"], crash_course["stock"], crash_course["available"]) == (
        "<p>Part one: basics.</p>\n<p>Part two: projects.</p>", 0, 0)
    pci = books[PCI]
    assert (pci["price_cents"], pci["stock"], pci["available"], pci["inventory_version"], pci["updated_by"]) == (
        4250, 20, 20, 2, "import of books.csv")
    assert books[RESTFUL]["updated_by"] == "seed"

    again = run_cli("import", str(path), data_dir=tmp_path)
    assert again.stdout.splitlines()[0] == (
        "imported 11 of 11 records from books.csv: added 0, updated 0, unchanged 5, rejected 6")
    assert await catalog(tmp_path) == books


@pytest.mark.parametrize("name", ["books-reference.xml", "books-short.xml"])
@pytest.mark.gen_test(timeout=60)
async def test_onix_import_reads_reference_and_short_tags_alike(tmp_path, name):
    path = fixture(tmp_path, name)
    result = run_cli("import", str(path), data_dir=tmp_path)
    assert (result.returncode, result.stdout) == (0, (
        f"imported 10 of 10 records from {name}: added 2, updated 1, unchanged 1, rejected 6\n"
        f"rejected records and why: {path}.rejects.csv\n"))
    assert rows(f"{path}.rejects.csv") == [
        ["record", "isbn", "title", "reason"],
        ["5", "9780134685990", "Refactoring", "isbn: Not a valid ISBN: the ISBN's check digit is wrong."],
        ["6", "9780262033848", "", "title: This field is required."],
        ["7", "9780132350884", "Clean Code", "price: Give a price between 0 and 10000, like 39.99."],
        ["8", "9780201633610", "Design Patterns", "subtitle: At most 200 characters."],
        ["9", EFFECTIVE_JAVA, "Effective Java (a later record)",
         "isbn: the same ISBN as record 1, the record imported for it"],
        ["10", "9781617294136", "Spring in Action",
         "a deletion (NotificationType 05): remove the book from the shop by hand"],
    ]

    books = await catalog(tmp_path)
    assert len(books) == len(STARTER_BOOKS) + 2 and not set(NEVER_IMPORTED) & set(books)
    fields = ("title", "subtitle", "author", "description", "date_released", "image", "price_cents", "stock")
    assert {name: books[EFFECTIVE_JAVA][name] for name in fields} == {
        "title": "Effective Java", "subtitle": "", "author": "Joshua Bloch",
        "description": "<p>Best practices for the <em>Java</em> platform &amp; its libraries.</p>",
        "date_released": "December 2017", "image": "https://covers.example.com/9780134685991.jpg",
        "price_cents": 4599, "stock": 8,
    }
    assert {name: books[K_AND_R][name] for name in fields} == {
        "title": "The C Programming Language", "subtitle": "",
        "author": "Brian W. Kernighan, Dennis M. Ritchie",  # not the translator
        "description": "<p>The classic tutorial.</p>", "date_released": "March 1988", "image": NO_COVER,
        "price_cents": 5200, "stock": 0,  # a new book the feed gives no stock
    }
    pci = books[PCI]
    # A new price; the feed carries neither stock nor cover, so the shop keeps its own.
    assert (pci["price_cents"], pci["stock"], pci["image"], pci["inventory_version"]) == (
        4250, starter(PCI)["stock"], starter(PCI)["image"], 1)
    assert books[RESTFUL]["updated_by"] == "seed"

    again = run_cli("import", str(path), data_dir=tmp_path)
    assert again.stdout.splitlines()[0] == (
        f"imported 10 of 10 records from {name}: added 0, updated 0, unchanged 4, rejected 6")
    assert await catalog(tmp_path) == books


def test_the_rejects_file_goes_where_asked_and_only_when_something_was_rejected(tmp_path):
    path = fixture(tmp_path, "books.csv")
    result = run_cli("import", str(path), f"--rejects={tmp_path / 'why.csv'}", data_dir=tmp_path)
    assert result.stdout.splitlines()[1] == f"rejected records and why: {tmp_path / 'why.csv'}"
    assert len(rows(tmp_path / "why.csv")) == 1 + 6
    assert not os.path.exists(f"{path}.rejects.csv")

    clean = tmp_path / "clean.csv"
    with open(path, encoding="utf-8-sig") as full, open(clean, "w", encoding="utf-8") as part:
        part.writelines(list(full)[:3])
    result = run_cli("import", str(clean), data_dir=tmp_path)
    assert result.stdout == "imported 2 of 2 records from clean.csv: added 0, updated 0, unchanged 2, rejected 0\n"
    assert not os.path.exists(f"{clean}.rejects.csv")


REFERENCE_FEED = Path(FIXTURES, "books-reference.xml").read_bytes()
BAD_FILES = {
    "header.csv": (b"isbn,title,author\n9780134685991,Effective Java,Joshua Bloch\n",
                   "header.csv: the first line must be the header "
                   "isbn,title,subtitle,author,price,stock,date_released,description,image "
                   "(found 'isbn,title,author')"),
    "latin1.csv": ("isbn,title,subtitle,author,price,stock,date_released,description,image\n"
                   "9780134685991,Effective Java,,Joshua Bloch,45.99,8,,,\n"
                   "9780131103627,Gödel,,Douglas Hofstadter,20.00,1,,,\n".encode("latin-1"),
                   "latin1.csv is not UTF-8 text; save it as UTF-8 (in a spreadsheet: CSV UTF-8) "
                   "and import it again"),
    "quote.csv": (b"isbn,title,subtitle,author,price,stock,date_released,description,image\n"
                  b'9780134685991,Effective Java,,Joshua Bloch,45.99,8,,,\n9780131103627,"The C\n',
                  "quote.csv, line 3: unexpected end of data"),
    "cut.xml": (REFERENCE_FEED[:REFERENCE_FEED.index(b"<!-- 4:")],  # a download cut short
                "cut.xml: malformed XML (no element found: line 137, column 2)"),
    "laughs.xml": (b'<?xml version="1.0"?>\n<!DOCTYPE ONIXMessage [<!ENTITY lol "lol">'
                   b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
                   b'<ONIXMessage release="3.0"><Product>&lol2;</Product></ONIXMessage>',
                   "laughs.xml: refused, the XML declares entities "
                   "(EntitiesForbidden(name='lol', system_id=None, public_id=None))"),
    "onix21.xml": (b'<ONIXMessage><Product><RecordReference>x</RecordReference></Product></ONIXMessage>',
                   "onix21.xml: not an ONIX for Books 3.0 message (root element 'ONIXMessage', "
                   "release not given)"),
    "books.txt": (b"Effective Java by Joshua Bloch\n",
                  "books.txt is neither CSV (.csv, header isbn,title,...) nor ONIX (.xml, .onix)"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_file_that_cannot_be_read_is_refused_in_one_line_before_anything_is_written(tmp_path, name):
    content, message = BAD_FILES[name]
    (tmp_path / name).write_bytes(content)
    result = run_cli("import", name, data_dir=tmp_path)
    assert (result.returncode, result.stderr, result.stdout) == (2, f"burts-books import: {message}\n", "")
    assert os.listdir(tmp_path) == [name]  # not even a store


def test_a_missing_file_is_refused(tmp_path):
    assert refusal(run_cli("import", "nowhere.csv", data_dir=tmp_path)) == (
        "burts-books import: nowhere.csv: No such file or directory")


def test_a_feed_in_no_namespace_is_read_when_it_says_release_3(tmp_path):
    feed = Path(FIXTURES, "books-short.xml").read_text(encoding="utf-8")
    (tmp_path / "plain.onix").write_text(feed.replace(' xmlns="http://ns.editeur.org/onix/3.0/short"', ""))
    result = run_cli("import", "plain.onix", data_dir=tmp_path)
    assert result.stdout.splitlines()[0] == (
        "imported 10 of 10 records from plain.onix: added 2, updated 1, unchanged 1, rejected 6")


def test_a_terminal_sees_a_progress_bar(tmp_path):
    path = fixture(tmp_path, "books.csv")
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "burts_books", "import", str(path), f"--data-dir={tmp_path}"],
        stdout=subprocess.PIPE, stderr=terminal, env=shop_environment(), text=True)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the process is done with it
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.wait(timeout=60) == 0
    assert "100%" in shown.decode() and "11/11" in shown.decode()


def test_ctrl_c_writes_what_was_read_and_keeps_what_was_done(tmp_path):
    path = make_catalog(tmp_path / "big.csv", 20_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "burts_books", "import", str(path), f"--data-dir={tmp_path}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=shop_environment(), text=True)
    try:
        # Without a terminal, the first progress line comes once the first batch is written.
        for line in process.stderr:
            if line.startswith("500 of 20000 records"):
                break
        else:
            pytest.fail(f"no progress line before the import ended ({process.wait()})")
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
    finally:
        stop_process(process)

    assert process.returncode == 130
    done = re.fullmatch(r"interrupted after (\d+) of 20000 records from big.csv: "
                        r"added (\d+), updated 0, unchanged 0, rejected 0\n", stdout)
    assert done and done[1] == done[2] and 500 <= int(done[1]) < 20_000, stdout
    with open(path, encoding="utf-8", newline="") as file:
        isbns = [row[0] for row in list(csv.reader(file))[1:]]
    books = asyncio.run(catalog(tmp_path))  # the store opens, and holds exactly what was reported
    assert set(books) == {book["isbn"] for book in STARTER_BOOKS} | set(isbns[:int(done[1])])


@pytest.mark.parametrize("where, message", [
    ("nowhere/why.csv", "can't write {folder}/nowhere/why.csv: there is no folder {folder}/nowhere"),
    (".", "{folder} is a folder: give a file name"),
])
@pytest.mark.gen_test(timeout=60)
async def test_a_rejects_file_that_cannot_be_written_is_refused_before_any_book_is(tmp_path, where, message):
    path = fixture(tmp_path, "books.csv")  # its sixth record is rejected, after five it imports
    run_cli("migrate", data_dir=tmp_path)
    before = await catalog(tmp_path)
    result = run_cli("import", str(path), f"--rejects={tmp_path / where}", data_dir=tmp_path)
    assert refusal(result) == "burts-books import: " + message.format(folder=tmp_path)
    assert await catalog(tmp_path) == before
