"""Forgotten passwords: ask for a link by email, then choose a new password with it."""

from __future__ import annotations

from ..infra.errors import Invalid, ValidationError
from .auth import sign_in_visitor
from .base import BaseHandler

SENT = (
    "If {email} has a Burt's Books account, a link to choose a new password is on its way there. "
    "It works once, for one hour. No mail? Check the spam folder, or ask again."
)


class ForgotPasswordHandler(BaseHandler):
    def get(self):
        self.render("password/forgot.html", email="", errors={}, notice=None)

    head = get

    async def post(self):
        email = self.get_body_argument("email", "")
        shop = self.shop_url()  # refused before anything is counted or stored
        try:
            await self.services.password_resets.request(
                email, self.client_address, lambda token: shop + self.reverse_url("password_reset", token)
            )
        except ValidationError as exc:
            self.set_status(400)
            self.render("password/forgot.html", email=email, errors=exc.errors, notice=None)
            return
        # The same answer whether or not the email has an account.
        self.render("password/forgot.html", email="", errors={}, notice=SENT.format(email=email.strip()))


class ResetPasswordHandler(BaseHandler):
    async def get(self, token):
        if not await self.services.password_resets.valid(token):
            self.show(expired=True, status=400)
            return
        self.show()

    head = get

    async def post(self, token):
        try:
            user, unlinked = await self.services.password_resets.use(token, self.get_body_argument("password", ""),
                                                                     self.client_address)
        except ValidationError as exc:
            self.show(errors=exc.errors, status=400)
            return
        except Invalid:
            self.show(expired=True, status=400)
            return
        await sign_in_visitor(self, user)
        self.redirect(self.reverse_url("account") + ("?password=reset-unlinked" if unlinked else "?password=reset"),
                      status=303)

    def show(self, *, errors: dict | None = None, expired: bool = False, status: int = 200) -> None:
        self.set_status(status)
        self.render("password/reset.html", errors=errors or {}, expired=expired)
