"""The cart: its page, and adding, removing or setting the copies of a title.

Scripts get JSON (they send JSON or accept it); a plain form post is
redirected back to where the shopper was (the form's `next`, on this site;
the book's page by default), so the shop works without JavaScript.
"""

import urllib.parse

from .. import isbn as isbn_codes
from ..carts import MAX_PER_TITLE, CartError
from ..infra.errors import Invalid
from ..infra.numbers import whole_number_or_invalid
from .base import BaseHandler, status_of

# add/remove: one copy; set: `quantity` copies; add_again: what an expired hold had; forget: stop saying it expired
ACTIONS = ("add", "remove", "set", "add_again", "forget")


class CartHandler(BaseHandler):
    accepts_tokens = True  # a program keeps a cart as its token's owner does
    def sent_json(self) -> bool:
        return self.request.headers.get("Content-Type", "").startswith("application/json")

    def wants_json(self) -> bool:
        return self.sent_json() or super().wants_json()

    async def get(self):
        contents = await self.services.carts.contents(self.cart)
        if self.wants_json():
            self.write_json({"cart": contents})
            return
        self.render_cart(contents, "")

    head = get

    def render_cart(self, contents: dict, message: str) -> None:
        self.render("cart.html", contents=contents, message=message, max_per_title=MAX_PER_TITLE)

    def cart_request(self) -> tuple[str, str | None, int]:
        """(action, ISBN or None for `forget`, quantity for `set`); whatever is sent is checked, used or not."""
        if self.sent_json():
            body = self.json_body()
        else:
            sent = {name: self.get_body_argument(name, None) for name in ("action", "isbn", "quantity")}
            body = {name: value for name, value in sent.items() if value is not None}
        action = body.get("action")
        if action not in ACTIONS:
            raise Invalid(f"The action must be one of {', '.join(ACTIONS)}.")
        quantity = 0
        if action == "set" or "quantity" in body:
            quantity = whole_number_or_invalid(
                body.get("quantity"), 0, MAX_PER_TITLE,
                f"Choose between 0 and {MAX_PER_TITLE} copies.",
            )
        isbn = isbn_codes.from_input(body.get("isbn")) if action != "forget" or "isbn" in body else None
        return action, None if action == "forget" else isbn, quantity

    async def post(self):
        action, isbn, quantity = self.cart_request()
        carts = self.services.carts
        if isbn is None:
            self.cart = await carts.forget_lapsed(self.cart)
            await self.answer(None, self.reverse_url("cart"))
            return
        book = await self.services.catalog.get(isbn)
        state: dict | None
        try:
            if action == "add":
                self.cart, state = await carts.add(self.cart, self.current_user, isbn, self.client_address)
            elif action == "remove":
                self.cart, state = await carts.remove(self.cart, isbn)
            elif action == "set":
                self.cart, state = await carts.set_quantity(
                    self.cart, self.current_user, isbn, quantity, self.client_address)
            else:
                self.cart, state = await carts.add_again(self.cart, self.current_user, isbn, self.client_address)
        except CartError as exc:
            await self.refused(exc, book)
            return
        await self.answer(state, self.reverse_url("book", isbn))

    async def answer(self, state: dict | None, default_next: str) -> None:
        if self.cart is not None:
            self.remember_cart(self.cart.id)
        if self.wants_json():
            self.write_json({"cart": await self.services.carts.contents(self.cart), "book": state})
        else:
            self.redirect(self.safe_next_url(default_next), status=303)

    async def refused(self, exc: CartError, book: dict) -> None:
        """Refused, but the answer still carries the cart and the book as they are now."""
        self.set_status(status_of(exc))
        contents = await self.services.carts.contents(self.cart)
        if self.wants_json():
            self.write_json({"error": {"status": status_of(exc), "message": str(exc)}, "cart": contents,
                             "book": exc.state})
        elif urllib.parse.urlsplit(self.safe_next_url("")).path == self.reverse_url("cart"):
            self.render_cart(contents, str(exc))  # the cart page again, saying why
        else:
            if exc.state is not None:
                book.update(available=exc.state["available"], inventory_version=exc.state["version"])
            # The book's page again, saying why the click did nothing.
            self.render("book.html", book=book, message=str(exc))
