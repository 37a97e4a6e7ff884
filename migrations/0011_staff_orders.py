"""Staff orders: every order gets its `seq` (its number's place in the sequence) and search `keywords`, the
"orders_written" counter the live list follows starts at the highest seq, and the indexes the staff list
reads by (seq; status or keyword, newest first).

Frozen: the keyword rule is this migration's own copy, as in 0002. Harmless
to run again: only orders without them get them.
"""

import re
import unicodedata

import pymongo

FIRST_NUMBER = 10001  # as burts_books/orders.py


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text or "").lower()
    return re.findall(r"[^\W_]+", "".join(c for c in folded if not unicodedata.combining(c)))


async def up(db):
    async for order in db.orders.find({"$or": [{"seq": {"$exists": False}}, {"keywords": {"$exists": False}}]}):
        keywords = sorted({*_words(order["number"]), *_words(order.get("name", "")), *_words(order.get("email", ""))})
        seq = int(order["number"].removeprefix("BB-")) - FIRST_NUMBER + 1
        await db.orders.update_one({"_id": order["_id"]}, {"$set": {"seq": seq, "keywords": keywords}})
    newest = await db.orders.find_one({}, {"seq": 1}, sort=[("seq", pymongo.DESCENDING)])
    if newest is not None:
        await db.counters.update_one({"_id": "orders_written"}, {"$max": {"value": newest["seq"]}}, upsert=True)
    await db.orders.create_index("seq", unique=True)
    await db.orders.create_index([("status", pymongo.ASCENDING), ("seq", pymongo.DESCENDING)])
    await db.orders.create_index([("keywords", pymongo.ASCENDING), ("seq", pymongo.DESCENDING)])
