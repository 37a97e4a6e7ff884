"""Checkout: a cart becomes an order, and its copies leave stock for good.

The cart is claimed first (one atomic update, conditioned on the revision
that was priced), then stock is decremented, then the order is written. A
crash part-way can lose an order record but never sells a copy twice.
"""

from __future__ import annotations

import datetime
import logging

import pymongo

from .carts import Cart, CartError, Carts, EmptyCart
from .infra.clock import utcnow
from .infra.db import Database, object_id
from .inventory import Inventory

log = logging.getLogger(__name__)

CLAIM_ATTEMPTS = 3
HISTORY_LIMIT = 100
REPEAT_WINDOW = datetime.timedelta(minutes=10)


class Orders:
    def __init__(self, db: Database, carts: Carts, inventory: Inventory):
        self.orders = db.orders
        self.carts = carts
        self.inventory = inventory

    async def place(self, cart: Cart | None, user: dict, cart_id: str | None = None) -> dict:
        """Turn the shopper's cart into an order; CartError when empty or changing under us.

        `cart_id` names the cart the browser last had: when that cart became
        this shopper's order moments ago (a second click on Buy), that order
        is the answer rather than an empty-cart error.
        """
        for _ in range(CLAIM_ATTEMPTS):
            if cart is None or not cart.holds:
                just_placed = await self._just_placed(cart_id, user)
                if just_placed is not None:
                    return just_placed
                raise EmptyCart("Your cart is empty: add a book before checking out.")
            lines = await self.carts.lines(cart)
            if await self.carts.claim_for_order(cart):
                break
            cart = await self.carts.find(cart.id, user)
        else:
            raise CartError("Your cart kept changing while you checked out; please try again.")

        shipped = []
        for line in lines:
            if await self.inventory.ship(line["isbn"], line["quantity"]):
                shipped.append(line)
            else:
                # Only after a crash broke the stock invariant; never sell what isn't there.
                log.error("order from cart %s: %d x %s no longer in stock",
                          cart.id, line["quantity"], line["isbn"])
        order = {
            "user_id": user["_id"],
            "email": user.get("email"),  # an account made by social sign-in may have none
            "cart_id": cart.id,
            "lines": shipped,
            "total_cents": sum(line["price_cents"] * line["quantity"] for line in shipped),
            "created_at": utcnow(),
        }
        result = await self.orders.insert_one(order)
        order["_id"] = result.inserted_id
        return order

    async def _just_placed(self, cart_id: str | None, user: dict) -> dict | None:
        if not cart_id:
            return None
        return await self.orders.find_one(
            {"cart_id": cart_id, "user_id": user["_id"], "created_at": {"$gte": utcnow() - REPEAT_WINDOW}}
        )

    async def get(self, order_id: str, user: dict) -> dict | None:
        """The user's order with this id; None for anyone else's or a bad id."""
        oid = object_id(order_id)
        if oid is None:
            return None
        return await self.orders.find_one({"_id": oid, "user_id": user["_id"]})

    async def history(self, user: dict) -> list[dict]:
        cursor = self.orders.find({"user_id": user["_id"]}).sort(
            [("created_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)]
        )
        return await cursor.limit(HISTORY_LIMIT).to_list(HISTORY_LIMIT)
