"""The cart: its page, and adding or removing copies.

Scripts get JSON (they send JSON or accept it); a plain form post is
redirected back to the book page, so the shop works without JavaScript.
"""

from .. import isbn as isbn_codes
from ..carts import CartError
from ..infra.errors import Invalid
from .base import BaseHandler, status_of

ACTIONS = ("add", "remove")


class CartHandler(BaseHandler):
    def sent_json(self) -> bool:
        return self.request.headers.get("Content-Type", "").startswith("application/json")

    def wants_json(self) -> bool:
        return self.sent_json() or super().wants_json()

    async def get(self):
        contents = await self.services.carts.contents(self.cart)
        if self.wants_json():
            self.write_json({"cart": contents})
            return
        self.render("cart.html", contents=contents, message="")

    def cart_request(self) -> tuple[str, str]:
        if self.sent_json():
            body = self.json_body()
            action, raw_isbn = body.get("action"), body.get("isbn")
        else:
            action, raw_isbn = self.get_body_argument("action", None), self.get_body_argument("isbn", None)
        if action not in ACTIONS:
            raise Invalid('The action must be "add" or "remove".')
        return action, isbn_codes.from_input(raw_isbn)

    async def post(self):
        action, isbn = self.cart_request()
        book = await self.services.catalog.get(isbn)
        carts = self.services.carts
        state: dict | None
        try:
            if action == "add":
                self.cart, state = await carts.add(self.cart, self.current_user, isbn, self.client_address)
            else:
                self.cart, state = await carts.remove(self.cart, isbn)
        except CartError as exc:
            # Refused, but the answer still carries the cart and the book as they are now.
            self.set_status(status_of(exc))
            if self.wants_json():
                self.write_json({
                    "error": {"status": status_of(exc), "message": str(exc)},
                    "cart": await carts.contents(self.cart),
                    "book": exc.state,
                })
            else:
                if exc.state is not None:
                    book.update(available=exc.state["available"], inventory_version=exc.state["version"])
                # The book's page again, saying why the click did nothing.
                self.render("book.html", book=book, message=str(exc))
            return
        if self.cart is not None:
            self.remember_cart(self.cart.id)
        if self.wants_json():
            self.write_json({"cart": await carts.contents(self.cart), "book": state})
        else:
            self.redirect(self.reverse_url("book", isbn), status=303)
