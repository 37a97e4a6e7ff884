"""`burts-books export --format csv`: every book in ISBN order, which importing reads back unchanged."""

import csv
import os
import shutil

from burts_books.catalog_csv import COLUMNS
from tests.benchmarks.make_catalog import make_catalog
from tests.constants import STARTER_BOOKS
from tests.shop_process import run_cli

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def imported(data_dir, path):
    data_dir.mkdir(exist_ok=True)
    result = run_cli("import", str(path), data_dir=data_dir)
    assert result.returncode == 0, result
    return result.stdout.splitlines()[0]


def exported(data_dir):
    out = data_dir / "exported.csv"
    result = run_cli("export", "--format=csv", f"--output={out}", data_dir=data_dir)
    assert (result.returncode, result.stdout) == (0, ""), result
    return out, result.stderr.splitlines()[-1]


def test_export_writes_every_book_in_isbn_order_and_importing_it_changes_nothing(tmp_path):
    source = shutil.copy(os.path.join(FIXTURES, "books.csv"), tmp_path)
    imported(tmp_path, source)
    out, said = exported(tmp_path)
    assert said == f"exported 15 books to {out}"
    with open(out, encoding="utf-8", newline="") as file:
        header, *books = list(csv.reader(file))
    assert header == list(COLUMNS)
    assert [book[0] for book in books] == sorted({b["isbn"] for b in STARTER_BOOKS} | {
        "9780134685991", "9780131103627", "9781593279288"})
    assert dict(zip(COLUMNS, books[0], strict=True)) == {
        "isbn": "9780131103627", "title": "The C Programming Language", "subtitle": "",
        "author": "Brian W. Kernighan, Dennis M. Ritchie", "price": "52.00", "stock": "3",
        "date_released": "March 1988", "description": "<p>The classic tutorial.</p>",
        "image": "https://covers.example.com/9780131103627.jpg"}

    assert imported(tmp_path, out) == (
        "imported 15 of 15 records from exported.csv: added 0, updated 0, unchanged 15, rejected 0")
    to_stdout = run_cli("export", data_dir=tmp_path)
    assert to_stdout.stdout == out.read_text(encoding="utf-8")

    # A fresh shop: its starter books, one of them as the first import changed it, and three new ones.
    assert imported(tmp_path / "fresh", out) == (
        "imported 15 of 15 records from exported.csv: added 3, updated 1, unchanged 11, rejected 0")
    out_again, _ = exported(tmp_path / "fresh")
    assert out_again.read_bytes() == out.read_bytes()


def test_the_same_books_from_csv_and_from_onix_make_the_same_catalog(tmp_path):
    from_csv, from_onix = tmp_path / "csv", tmp_path / "onix"
    assert imported(from_csv, make_catalog(tmp_path / "books.csv", 300)).endswith(
        "added 300, updated 0, unchanged 0, rejected 0")
    assert imported(from_onix, make_catalog(tmp_path / "books.xml", 300, kind="onix")).endswith(
        "added 300, updated 0, unchanged 0, rejected 0")
    (csv_export, _), (onix_export, _) = exported(from_csv), exported(from_onix)
    assert csv_export.read_bytes() == onix_export.read_bytes()
    assert imported(from_csv, csv_export).endswith("added 0, updated 0, unchanged 312, rejected 0")


def test_an_output_that_cannot_be_written_is_refused_in_one_line_and_leaves_nothing(tmp_path):
    imported(tmp_path, shutil.copy(os.path.join(FIXTURES, "books.csv"), tmp_path))
    (tmp_path / "a folder").mkdir()
    for output, message in ((tmp_path / "nowhere" / "books.csv", f"there is no folder {tmp_path / 'nowhere'}"),
                            (tmp_path / "a folder", "is a folder: give a file name")):
        before = sorted(os.listdir(tmp_path))
        result = run_cli("export", "--format=csv", f"--output={output}", data_dir=tmp_path)
        assert result.returncode == 2, result
        assert message in result.stderr.splitlines()[-1]
        assert sorted(os.listdir(tmp_path)) == before  # no .partial file either
