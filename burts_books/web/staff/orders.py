"""Staff orders: every shopper's orders, searched and paged, kept live; an order's page and its actions."""

from ...infra.errors import Conflict, Invalid
from ...infra.numbers import LARGEST, whole_number_or_invalid
from ...orders import STATUS_LABELS
from ..base import BaseHandler, staff_only, status_of
from ..mixins import FlashMixin, SearchMixin

# What each action is called in its address, and what it says once done.
ACTIONS = {
    "ready": "Order {number} marked ready for pickup; {email} was told by mail.",
    "collected": "Order {number} marked collected and paid.",
    "cancel": "Order {number} cancelled; its copies are on sale again and {email} was told by mail.",
}


class OrdersHandler(SearchMixin, FlashMixin):
    """GET /staff/orders?status=&q=&page=: newest first."""

    @staff_only
    async def get(self):
        query, page = self.search_arguments()
        status = self.get_argument("status", "")
        # Read before the list: the live cursor is never ahead of what the page shows.
        newest = await self.services.orders.newest_seq()
        try:
            found = await self.services.orders.find(status, query, page)
        except Invalid as exc:
            self.set_status(400)
            self.render("staff/orders.html", found=None, error=str(exc), status="", query=query, newest=newest,
                        status_labels=STATUS_LABELS)
            return
        self.render("staff/orders.html", found=found, error="", status=status, query=query, newest=newest,
                    status_labels=STATUS_LABELS)


class OrdersWatchHandler(BaseHandler):
    """GET /staff/orders/watch?after=SEQ, the list's script (not the API: JSON because it asks for it):
    answers when an order newer than SEQ exists or any order changes, else at the long-poll timeout,
    with {"newest": seq, "changed": bool}."""

    waiter = None
    gone = False

    @staff_only
    async def get(self):
        after = whole_number_or_invalid(
            self.get_argument("after", ""), 0, LARGEST,
            "Say which order the page shows last: ?after= and its seq, a whole number.",
        )
        feed = self.services.order_feed
        with self.services.limits.live_connections.one(self.client_address):
            self.waiter = feed.waiter()
            newest, changed = await feed.wait(self.waiter, after, self.shop_settings.long_poll_timeout_seconds)
        if self.gone:
            return
        self.write_json({"newest": newest, "changed": changed})

    def on_connection_close(self):
        self.gone = True
        if self.waiter is not None:
            self.services.order_feed.discard(self.waiter)


class OrderHandler(FlashMixin):
    """GET /staff/orders/BB-10004: items, contact, pickup code, what happened, and the actions its status allows."""

    async def show(self, number: str, error: str = "", code_error: str = "") -> None:
        order = await self.services.orders.by_number(number)
        self.render("staff/order.html", order=order, error=error, code_error=code_error,
                    status_labels=STATUS_LABELS)

    @staff_only
    async def get(self, number):
        await self.show(number)


class OrderActionHandler(OrderHandler):
    """POST /staff/orders/BB-10004/(ready|collected|cancel): one step, said on the order's page; a refused
    step (a wrong pickup code, an order someone else moved on) is said there too, and changes nothing."""

    @staff_only
    async def post(self, number, action):
        orders = self.services.orders
        order = await orders.by_number(number)
        try:
            if action == "ready":
                await orders.mark_ready(order, self.current_user)
            elif action == "collected":
                await orders.mark_collected(order, self.get_body_argument("pickup_code", ""), self.current_user)
            else:
                await orders.cancel(order, self.current_user)
        except (Invalid, Conflict) as exc:
            self.set_status(status_of(exc))
            code_error = str(exc) if action == "collected" and isinstance(exc, Invalid) else ""
            await self.show(number, "" if code_error else str(exc), code_error)
            return
        self.done(ACTIONS[action].format(number=number, email=order["email"]),
                  self.reverse_url("staff_order", number))
