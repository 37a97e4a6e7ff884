"""Notify me: a shopper asks, on a sold-out title's page, for one mail when it is back."""

from ..infra.errors import ValidationError
from ..restock_alerts import OnSale, Withdrawn
from .base import BaseHandler, status_of


class NotifyHandler(BaseHandler):
    async def post(self, raw_isbn):
        book = await self.services.catalog.get(raw_isbn)
        # A signed-in shopper's mail goes to their account unless they typed another address.
        email = self.get_body_argument("email", "").strip() or (self.current_user or {}).get("email", "")
        try:
            stored = await self.services.restock_alerts.ask(book["isbn"], email, self.client_address)
        except (ValidationError, OnSale, Withdrawn) as exc:
            self.set_status(status_of(exc))
            message = exc.errors["email"] if isinstance(exc, ValidationError) else str(exc)
            self.render("book.html", book=book, message=message, alert_email=email)
            return
        self.render("book.html", book=book, message=f"We'll email {stored} once, when it's back in stock.",
                    alert_email=stored)
