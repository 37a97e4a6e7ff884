"""The catalog as CSV: one fixed header, read record by record and written book by book.

UTF-8 (a byte-order mark is accepted), one book a row, the fields of the
staff book form (price like 12.99) in the order of COLUMNS. What `export`
writes, `import` reads back unchanged.
"""

from __future__ import annotations

import csv
from collections.abc import AsyncIterable, Iterator
from typing import TextIO

from .catalog import book_form
from .infra.errors import BadImportFile

COLUMNS = ("isbn", "title", "subtitle", "author", "price", "stock", "date_released", "description", "image")


def _rows(stream: TextIO, name: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) for every non-blank row after the header."""
    # strict: a stray quote is an error to report, not a guess to import.
    reader = csv.reader(stream, strict=True)
    try:
        header = next(reader, None)
        if header != list(COLUMNS):
            found = ",".join(header) if header else "nothing"
            raise BadImportFile(f"{name}: the first line must be the header {','.join(COLUMNS)} "
                                f"(found {found[:120]!r})")
        end = reader.line_num
        for row in reader:
            if row:
                yield end + 1, row
            end = reader.line_num
    except UnicodeDecodeError:
        raise BadImportFile(f"{name} is not UTF-8 text; save it as UTF-8 "
                            "(in a spreadsheet: CSV UTF-8) and import it again") from None
    except csv.Error as exc:
        raise BadImportFile(f"{name}, line {reader.line_num}: {exc}") from None


def count(stream: TextIO, name: str) -> int:
    """How many records the file holds; BadImportFile if it can't be read to the end."""
    return sum(1 for _ in _rows(stream, name))


def records(stream: TextIO, name: str) -> Iterator[tuple[int, dict[str, str], str | None]]:
    """(line number, form fields, reason it can't be imported or None) per row."""
    for line, row in _rows(stream, name):
        problem = None if len(row) == len(COLUMNS) else (
            f"{len(row)} fields where the header has {len(COLUMNS)}")
        yield line, dict(zip(COLUMNS, row, strict=False)), problem


async def write(books: AsyncIterable[dict], out: TextIO) -> int:
    """Write the header, then one row per book as it arrives; returns how many books."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    written = 0
    async for book in books:
        form = book_form(book)
        writer.writerow([form[column] for column in COLUMNS])
        written += 1
    return written
