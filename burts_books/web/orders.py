"""Click-and-collect checkout (review, then place) and the shopper's orders."""

from ..carts import CartError, EmptyCart
from ..infra.errors import ValidationError
from ..infra.numbers import LARGEST, whole_number_or_invalid
from ..orders import CONTACT_FIELDS, STATUS_LABELS, Contact, check_contact
from .base import BaseHandler, signed_in, status_of


class CheckoutHandler(BaseHandler):
    """GET: the review step (items, contact, pickup note). POST: place the order as reviewed."""

    def next_after_sign_in(self) -> str:
        return self.reverse_url("checkout")

    async def review(self, contact: Contact, errors: dict, message: str = "") -> None:
        contents = await self.services.carts.contents(self.cart)
        self.render("checkout.html", contents=contents, contact=contact, errors=errors, message=message)

    @signed_in
    async def get(self):
        await self.review(await self.services.orders.contact_for(self.current_user), {})

    head = get

    @signed_in
    async def post(self):
        typed = {name: self.get_body_argument(name, "") for name in CONTACT_FIELDS}
        revision = whole_number_or_invalid(
            self.get_body_argument("revision", ""), 0, LARGEST,
            "This form is missing the cart it reviewed: reload the page and try again.",
        )
        try:
            contact = check_contact(**typed)
            # A form without `prices` (made before they were sent) is shown again, with them.
            placed = await self.services.orders.place(self.cart, self.current_user, contact, revision,
                                                      self.cart_cookie(), self.get_body_argument("prices", ""))
        except ValidationError as exc:
            self.set_status(400)
            await self.review(Contact(**typed), exc.errors)
            return
        except (CartError, EmptyCart) as exc:
            self.set_status(status_of(exc))
            await self.review(Contact(**typed), {}, str(exc))
            return
        self.redirect(self.reverse_url("order", placed.order["number"]), status=303)


class OrderHandler(BaseHandler):
    @signed_in
    async def get(self, number):
        order = await self.services.orders.get(number, self.current_user)
        self.render("order.html", order=order, status_labels=STATUS_LABELS)

    head = get


class OrdersHandler(BaseHandler):
    @signed_in
    async def get(self):
        self.render("orders.html", orders=await self.services.orders.history(self.current_user),
                    status_labels=STATUS_LABELS)

    head = get
