"""A starter catalog, so a new shop has books to show; never overwrites a staff edit."""

import datetime

from burts_books.catalog import keywords_for
from burts_books.seed_books import STARTER_BOOKS


async def up(db):
    added = datetime.datetime(2026, 11, 1)
    for offset, book in enumerate(STARTER_BOOKS):
        document = dict(
            book,
            available=book["stock"],
            inventory_version=1,
            keywords=keywords_for(book),
            date_added=added + datetime.timedelta(hours=offset),
            updated_at=added,
            updated_by="seed",
        )
        await db.books.update_one({"isbn": book["isbn"]}, {"$setOnInsert": document}, upsert=True)
