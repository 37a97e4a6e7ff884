"""A starter catalog, so a new shop has books to show; never overwrites a staff edit.

Frozen: the books and the keyword rule are this migration's own copies, so
changing the catalog code later cannot change what this migration wrote.
"""

import datetime
import json
import re
import unicodedata
from pathlib import Path

STARTER_BOOKS = json.loads(Path(__file__).with_name("0002_starter_books.json").read_text(encoding="utf-8"))


def _keywords(book: dict) -> list[str]:
    found = {book["isbn"]}
    for field in ("title", "subtitle", "author"):
        folded = unicodedata.normalize("NFKD", book.get(field, "")).lower()
        folded = "".join(c for c in folded if not unicodedata.combining(c))
        found.update(re.findall(r"[^\W_]+", folded))
    return sorted(found)


async def up(db):
    added = datetime.datetime(2026, 11, 1)
    for offset, book in enumerate(STARTER_BOOKS):
        document = dict(
            book,
            available=book["stock"],
            inventory_version=1,
            keywords=_keywords(book),
            date_added=added + datetime.timedelta(hours=offset),
            updated_at=added,
            updated_by="seed",
        )
        await db.books.update_one({"isbn": book["isbn"]}, {"$setOnInsert": document}, upsert=True)
