"""API tokens: each request finds its token by digest; the tokens page lists a person's own, newest first."""

import pymongo


async def up(db):
    await db.api_tokens.create_index("hash", unique=True)
    await db.api_tokens.create_index([("owner_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)])
