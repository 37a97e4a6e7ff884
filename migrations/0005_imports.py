"""Staff imports: the recent ones are listed newest first."""

import pymongo


async def up(db):
    await db.imports.create_index([("started_at", pymongo.DESCENDING)])
