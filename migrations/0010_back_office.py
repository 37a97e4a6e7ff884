"""The back office: the change history and its filters, the stock page's bands, and an owner.

History pages filter by book, kind or person and always sort newest first;
housekeeping finds the books and users with entries still pending (a sparse
index: only those are in it). The stock page reads titles by `available`, then
title. The first staff account becomes the owner when the shop has none, as
`create-user` does for new ones (which ask whether there is an owner).
"""

import pymongo

NEWEST = [("at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)]


async def up(db):
    await db.history.create_index(NEWEST)
    for field in ("isbn", "kind", "who"):
        await db.history.create_index([(field, pymongo.ASCENDING), *NEWEST])
    for collection in (db.books, db.users):  # history.DRAINED
        await collection.create_index("history_pending._id", sparse=True)
    await db.books.create_index(
        [("available", pymongo.ASCENDING), ("title", pymongo.ASCENDING), ("isbn", pymongo.ASCENDING)])
    await db.users.create_index("owner", sparse=True)
    if await db.users.count_documents({"owner": True}, limit=1) == 0:
        first = await db.users.find_one({"staff": True}, sort=[("created_at", pymongo.ASCENDING), ("_id", 1)])
        if first is not None:
            await db.users.update_one({"_id": first["_id"]}, {"$set": {"owner": True}})
