"""Orders for a shopper's program, the JSON calls: place the cart as reviewed (GET /cart gives its
`revision` and `prices`), and read one's orders. The pages are in web/orders.py."""

from ..carts import CartError
from ..infra.errors import Invalid, ValidationError
from ..infra.numbers import LARGEST, whole_number_or_invalid
from ..orders import CONTACT_FIELDS, PLACED, READY, check_contact
from .base import JsonHandler, signed_in, status_of

REVIEWED = "Send the cart's `revision` and `prices` as GET /cart gave them: the order is placed as reviewed."


def order_json(order: dict) -> dict:
    """What the shopper's order page shows: the pickup code only while the order waits to be collected."""
    return {
        "number": order["number"],
        "status": order["status"],
        "created_at": order["created_at"],
        "lines": [{key: line[key] for key in ("isbn", "title", "price_cents", "quantity")} for line in order["lines"]],
        "total_cents": order["total_cents"],
        "payment": order["payment"],
        "pickup_code": order["pickup_code"] if order["status"] in (PLACED, READY) else None,
        "name": order.get("name", ""),
        "email": order.get("email", ""),
        "phone": order.get("phone", ""),
        "note": order.get("note", ""),
        "history": [{"status": step["status"], "at": step["at"]} for step in order["history"]],
    }


class OrdersApiHandler(JsonHandler):
    """GET: the shopper's orders, newest first. POST: place the cart as an order, as reviewed."""

    @signed_in
    async def get(self):
        orders = await self.services.orders.history(self.current_user)
        self.write_json({"orders": [order_json(order) for order in orders]})

    @signed_in
    async def post(self):
        body = self.json_body()
        typed = {name: body.get(name, "") for name in CONTACT_FIELDS}
        wrong = [name for name, value in typed.items() if not isinstance(value, str)]
        if wrong:
            raise ValidationError({name: "Send this as a string." for name in wrong})
        revision = whole_number_or_invalid(body.get("revision"), 0, LARGEST, REVIEWED)
        prices = body.get("prices")
        if not isinstance(prices, str):
            raise Invalid(REVIEWED)
        contact = check_contact(**typed)
        try:
            placed = await self.services.orders.place(self.cart, self.current_user, contact, revision,
                                                      self.cart_cookie(), prices)
        except CartError as exc:
            self.set_status(status_of(exc))
            self.write_json({"error": {"status": status_of(exc), "message": str(exc)},
                             "cart": await self.services.carts.contents(self.cart)})
            return
        if placed.new:
            self.set_status(201)
        self.set_header("Location", self.reverse_url("api_order", placed.order["number"]))
        self.write_json({"order": order_json(placed.order)})


class OrderApiHandler(JsonHandler):
    @signed_in
    async def get(self, number):
        order = await self.services.orders.get(number, self.current_user)
        self.write_json({"order": order_json(order)})
