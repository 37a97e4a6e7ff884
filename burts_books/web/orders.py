"""Checkout and the shopper's orders."""

from ..carts import CartError, EmptyCart
from ..infra.errors import NotFound
from .base import BaseHandler, signed_in, status_of


class PurchaseHandler(BaseHandler):
    def next_after_sign_in(self) -> str:
        return self.reverse_url("cart")

    @signed_in
    async def post(self):
        try:
            order = await self.services.orders.place(self.cart, self.current_user, self.cart_cookie())
        except (CartError, EmptyCart) as exc:
            self.set_status(status_of(exc))
            contents = await self.services.carts.contents(self.cart)
            self.render("cart.html", contents=contents, message=str(exc))
            return
        self.redirect(self.reverse_url("order", str(order["_id"])), status=303)


class OrderHandler(BaseHandler):
    @signed_in
    async def get(self, order_id):
        order = await self.services.orders.get(order_id, self.current_user)
        if order is None:
            raise NotFound("You have no order with this number.")
        self.render("order.html", order=order)


class OrdersHandler(BaseHandler):
    @signed_in
    async def get(self):
        self.render("orders.html", orders=await self.services.orders.history(self.current_user))
