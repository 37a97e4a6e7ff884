"""Importing books from a CSV file or an ONIX feed into the catalog.

Every record is validated exactly as the staff book form validates a book
(`parse_book_form`) and written in batches (`Catalog.upsert_many`): new books
are added, changed ones updated (stock through the inventory service), the
rest left alone. Records stream from the file, so memory holds one batch
whatever the file's size, plus one small entry per ISBN seen (to refuse
duplicates).

- A file that can't be read as a whole (wrong CSV header, not UTF-8,
  malformed XML) is refused before anything is written: `ImportFile.open`
  reads it once to the end, which also counts its records for progress.
- When an ISBN appears twice in a file, the first record is imported and the
  later ones are rejected; so importing the same file again changes nothing.
- `Importer.stop()` makes `run()` return after the batch it is writing.

A server can run `Importer.run()` as a background task, read
`Importer.progress` at any time and call `stop()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
from collections.abc import Awaitable, Callable, Generator, Mapping
from pathlib import Path
from typing import IO

from . import catalog_csv, onix
from .catalog import Catalog, parse_book_form
from .infra.errors import BadImportFile, ValidationError

# (line or record number, book form fields, why it can't be imported or None)
Record = tuple[int, dict[str, str], str | None]

_READERS = {"csv": catalog_csv, "onix": onix}
_EXTENSIONS = {".csv": "csv", ".xml": "onix", ".onix": "onix"}
BATCH_SIZE = 500
YIELD_EVERY = 20  # records validated between two turns of the event loop (a few ms)
# Fields a file may leave out (an ONIX feed without stock or cover), and what passes the form for them.
_PLACEHOLDERS = {"stock": "0", "image": ""}


def _kind(path: Path, name: str) -> str:
    """"csv" or "onix", from the extension or else from how the file starts."""
    if path.suffix.lower() in _EXTENSIONS:
        return _EXTENSIONS[path.suffix.lower()]
    with open(path, "rb") as stream:
        start = stream.read(64).removeprefix(b"\xef\xbb\xbf").lstrip()
    if start.startswith(b"<"):
        return "onix"
    if start.startswith(b"isbn,"):
        return "csv"
    raise BadImportFile(f"{name} is neither CSV (.csv, header isbn,title,...) nor ONIX (.xml, .onix)")


@dataclasses.dataclass(frozen=True)
class ImportFile:
    """A file checked readable to the end, and the number of records in it.

    `name` is what messages call it: the path, or the name staff gave an upload.
    """

    path: Path
    name: str
    kind: str  # "csv" or "onix"
    total: int

    @classmethod
    def open(cls, path: Path, name: str | None = None) -> ImportFile:
        """Check the whole file (blocking: a server calls it in a thread); BadImportFile if unreadable."""
        name = name or path.name
        try:
            kind = _kind(path, name)
            with cls._stream(path, kind) as stream:
                return cls(path, name, kind, _READERS[kind].count(stream, name))
        except OSError as exc:
            raise BadImportFile(f"{name}: {exc.strerror}") from None

    @staticmethod
    def _stream(path: Path, kind: str) -> IO:
        if kind == "csv":
            return open(path, encoding="utf-8-sig", newline="")
        return open(path, "rb")

    @property
    def numbered_by(self) -> str:
        return "line" if self.kind == "csv" else "record"

    def records(self) -> Generator[Record, None, None]:
        with self._stream(self.path, self.kind) as stream:
            yield from _READERS[self.kind].records(stream, self.name)


class RejectsFile:
    """Rejected records as CSV: line (or record) number, ISBN, title, reason. Created at the first one."""

    def __init__(self, path: Path, numbered_by: str):
        self.path = path
        self.numbered_by = numbered_by
        self.written = 0
        self._file: IO | None = None

    def add(self, number: int, form: Mapping[str, str], reason: str) -> None:
        if self._file is None:
            # Opened at the first rejection and kept open across batches; close() ends it.
            self._file = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            csv.writer(self._file).writerow([self.numbered_by, "isbn", "title", "reason"])
        csv.writer(self._file).writerow([number, form.get("isbn", ""), form.get("title", ""), reason])
        self.written += 1

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclasses.dataclass
class Progress:
    total: int
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    interrupted: bool = False

    @property
    def done(self) -> int:
        return self.added + self.updated + self.unchanged + self.rejected

    def counts(self) -> str:
        return (f"added {self.added}, updated {self.updated}, "
                f"unchanged {self.unchanged}, rejected {self.rejected}")


@dataclasses.dataclass
class _Pending:
    number: int
    form: dict[str, str]
    book: dict


class Importer:
    """One import run: `progress` counts what is done, `on_batch` hears of each batch written
    (and is awaited when it returns an awaitable, as a database update does)."""

    def __init__(self, catalog: Catalog, editor: str, rejects: RejectsFile,
                 on_batch: Callable[[Progress], Awaitable[None] | None] = lambda progress: None,
                 batch_size: int = BATCH_SIZE):
        self.catalog = catalog
        self.editor = editor
        self.rejects = rejects
        self.on_batch = on_batch
        self.batch_size = batch_size
        self.progress = Progress(total=0)
        self._stopping = False
        self._first_record: dict[str, int] = {}  # ISBN -> number of the record imported for it

    def stop(self) -> None:
        """Finish the batch being written, then return from run()."""
        self._stopping = True

    async def run(self, source: ImportFile) -> Progress:
        self.progress = Progress(total=source.total)
        batch: dict[str, _Pending] = {}
        with contextlib.closing(source.records()) as records:
            for number, form, problem in records:
                if self._stopping:
                    break
                if number % YIELD_EVERY == 0:
                    # Validating is CPU work: let a server's requests run in between.
                    await asyncio.sleep(0)
                pending = self._validate(number, form, problem, source.numbered_by)
                if pending is not None:
                    batch[pending.book["isbn"]] = pending
                if len(batch) >= self.batch_size:
                    await self._write(batch)
                    batch = {}
        if batch:
            await self._write(batch)
        self.progress.interrupted = self._stopping
        return self.progress

    def _validate(self, number: int, form: dict[str, str], problem: str | None,
                  numbered_by: str) -> _Pending | None:
        if problem is not None:
            self._reject(number, form, problem)
            return None
        # A field the file doesn't carry keeps the book's own value (see upsert_many);
        # the placeholder only passes the form.
        absent = [name for name in _PLACEHOLDERS if name not in form]
        try:
            book = parse_book_form({**{name: _PLACEHOLDERS[name] for name in absent}, **form})
        except ValidationError as exc:
            self._reject(number, form, str(exc))
            return None
        for name in absent:
            del book[name]
        first = self._first_record.setdefault(book["isbn"], number)
        if first != number:
            self._reject(number, form, f"isbn: the same ISBN as {numbered_by} {first}, the record imported for it")
            return None
        return _Pending(number, form, book)

    def _reject(self, number: int, form: Mapping[str, str], reason: str) -> None:
        self.rejects.add(number, form, reason)
        self.progress.rejected += 1

    async def _write(self, batch: dict[str, _Pending]) -> None:
        done = await self.catalog.upsert_many([pending.book for pending in batch.values()], self.editor)
        self.progress.added += len(done.added)
        self.progress.updated += len(done.updated)
        self.progress.unchanged += len(done.unchanged)
        for isbn, error in done.rejected.items():
            self._reject(batch[isbn].number, batch[isbn].form, str(error))
        self.rejects.flush()
        noted = self.on_batch(self.progress)
        if noted is not None:
            await noted
        # Writes to the embedded store never wait: let signals and other tasks in between batches.
        await asyncio.sleep(0)
