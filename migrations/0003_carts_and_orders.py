"""Indexes for carts (expiry sweeps, a shopper's open cart) and orders (a shopper's history)."""

import pymongo


async def up(db):
    await db.carts.create_index([("status", pymongo.ASCENDING), ("touched_at", pymongo.ASCENDING)])
    await db.carts.create_index([("user_id", pymongo.ASCENDING), ("status", pymongo.ASCENDING)])
    await db.orders.create_index([("user_id", pymongo.ASCENDING), ("created_at", pymongo.DESCENDING)])
