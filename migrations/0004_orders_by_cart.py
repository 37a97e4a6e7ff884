"""Orders by cart: a repeated Buy click finds the order its cart just became."""


async def up(db):
    await db.orders.create_index("cart_id")
