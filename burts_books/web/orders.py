"""Checkout and the shopper's orders."""

import urllib.parse

import tornado.web

from ..carts import CartError, EmptyCart
from .base import BaseHandler


class PurchaseHandler(BaseHandler):
    async def post(self):
        if not self.current_user:
            # @authenticated answers a POST with 403; a shopper should be asked to sign in.
            if self.wants_json():
                raise tornado.web.HTTPError(401, "Sign in to check out.")
            query = urllib.parse.urlencode({"next": self.reverse_url("cart")})
            self.redirect(f"{self.get_login_url()}?{query}", status=303)
            return
        try:
            order = await self.services.orders.place(self.cart, self.current_user, self.cart_cookie())
        except CartError as exc:
            self.set_status(400 if isinstance(exc, EmptyCart) else 409)
            contents = await self.services.carts.contents(self.cart)
            self.render("cart.html", contents=contents, message=str(exc))
            return
        self.redirect(self.reverse_url("order", str(order["_id"])), status=303)


class OrderHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, order_id):
        order = await self.services.orders.get(order_id, self.current_user)
        if order is None:
            raise tornado.web.HTTPError(404, "You have no order with this number.")
        self.render("order.html", order=order)


class OrdersHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self):
        self.render("orders.html", orders=await self.services.orders.history(self.current_user))
