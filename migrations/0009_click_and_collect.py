"""Click-and-collect orders: a short number for each (unique), a status, a pickup code and a payment.

Orders placed before this (one-click "Buy now") get numbers in the order they
were placed, status "placed" and the account's email as contact, so staff
can hand them over like any other. Harmless to run again: only orders
without a number are numbered.
"""

import secrets

import pymongo

FIRST_NUMBER = 10001  # as burts_books/orders.py


async def up(db):
    unnumbered = db.orders.find({"number": {"$exists": False}}).sort([("created_at", 1), ("_id", 1)])
    async for order in unnumbered:
        counter = await db.counters.find_one_and_update(
            {"_id": "order_number"}, {"$inc": {"value": 1}}, upsert=True, return_document=pymongo.ReturnDocument.AFTER
        )
        await db.orders.update_one({"_id": order["_id"], "number": {"$exists": False}}, {"$set": {
            "number": f"BB-{FIRST_NUMBER - 1 + counter['value']}",
            "status": "placed",
            "name": order.get("name", ""),
            "phone": order.get("phone", ""),
            "note": order.get("note", ""),
            "payment": {"method": "pay_at_pickup", "status": "due"},
            "pickup_code": f"{secrets.randbelow(10 ** 6):06d}",
            "history": [{"status": "placed", "at": order["created_at"], "by": order.get("email", "")}],
        }})
    # After the backfill: every order has its number now.
    await db.orders.create_index("number", unique=True)
    await db.orders.create_index([("status", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)])
    await db.restock_alerts.create_index([("status", pymongo.ASCENDING), ("isbn", pymongo.ASCENDING)])
