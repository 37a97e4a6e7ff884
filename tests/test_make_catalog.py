"""The benchmark catalog generator: the same books for the same seed, with realistic fields."""

import csv

from burts_books.catalog import parse_book_form
from burts_books.catalog_csv import COLUMNS
from tests.benchmarks.make_catalog import make_catalog


def test_the_same_seed_makes_the_same_file_and_another_seed_another(tmp_path):
    first = make_catalog(tmp_path / "first.csv", 200, seed=7)
    again = make_catalog(tmp_path / "again.csv", 200, seed=7)
    other = make_catalog(tmp_path / "other.csv", 200, seed=8)
    assert first.read_bytes() == again.read_bytes() != other.read_bytes()
    onix = make_catalog(tmp_path / "first.xml", 200, seed=7, kind="onix")
    assert onix.read_bytes() == make_catalog(tmp_path / "again.xml", 200, seed=7, kind="onix").read_bytes()


def test_books_look_like_a_bookshops(tmp_path):
    with open(make_catalog(tmp_path / "books.csv", 1000), encoding="utf-8", newline="") as file:
        header, *rows = list(csv.reader(file))
    assert header == list(COLUMNS)
    books = [parse_book_form(dict(zip(COLUMNS, row, strict=True))) for row in rows]  # every one valid
    assert len({book["isbn"] for book in books}) == 1000
    assert {len(book["title"].split()) for book in books} == set(range(2, 9))
    assert min(len(row[COLUMNS.index("description")]) for row in rows) >= 300
    assert max(len(row[COLUMNS.index("description")]) for row in rows) <= 1500
    assert all(book["description"].startswith("<p>") for book in books)
    assert {book["stock"] for book in books} == set(range(51))
    assert 50 < sum(book["stock"] == 0 for book in books) < 150  # about one in ten sold out
    assert 400 <= min(book["price_cents"] for book in books) < max(book["price_cents"] for book in books) <= 8999
