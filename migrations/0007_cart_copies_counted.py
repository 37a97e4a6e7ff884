"""Carts count their copies: carts from before the counter get it from their holds and adds under way.

Without it, an old cart would count from its next add and could go past the per-cart cap.
"""


async def up(db):
    async for cart in db.carts.find({"copies": {"$exists": False}}, {"holds": 1, "adding": 1}):
        copies = sum(cart.get("holds", {}).values()) + sum(cart.get("adding", {}).values())
        await db.carts.update_one({"_id": cart["_id"], "copies": {"$exists": False}}, {"$set": {"copies": copies}})
