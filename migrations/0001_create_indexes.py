"""Indexes every query relies on; unique ones enforce ISBN and email identity."""

import pymongo


async def up(db):
    await db.books.create_index("isbn", unique=True)
    await db.books.create_index("keywords")
    await db.books.create_index([("title", pymongo.ASCENDING), ("isbn", pymongo.ASCENDING)])
    await db.books.create_index([("date_added", pymongo.DESCENDING)])
    await db.users.create_index("email", unique=True)
