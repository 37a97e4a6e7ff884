"""Local accounts: register, sign in, sign out; and what every way of signing in shares."""

from __future__ import annotations

import json

from ..accounts import normalize_email
from ..infra.errors import ValidationError
from ..social_accounts import Profile, configured_providers
from .base import SESSION_COOKIE, BaseHandler

WRONG_PASSWORD = "That email and password don't match an account."
REGISTERED = (
    "If this email is new to Burt's Books, its account is ready: sign in with it below. "
    "If it already had an account, nothing has changed: sign in with that account's password."
)
# An identity waiting to be linked to the account its verified email has, once its owner signs in.
PENDING_LINK_COOKIE = "social_link"
PENDING_LINK_MINUTES = 15
LINK_NOTICE = (
    "{title} says you are {email}, and Burt's Books already has an account with that email. "
    "Sign in to it once, here with its password or with a provider already linked to it, "
    "and {title} will be linked to it. (Forgot the password? Ask for a reset link below.)"
)
# What ?problem= on the sign-in page says; never text from the request itself.
PROBLEMS = {
    "cancelled": "You cancelled signing in with {title}: nothing was changed.",
    "failed": "{title} could not sign you in just now: nothing was changed. Try again, or sign in another way.",
    "expired": (
        "That sign-in had expired, was used already, or was started in another browser: nothing was changed. "
        "Please try again."
    ),
}


def pending_link(handler: BaseHandler) -> Profile | None:
    value = handler.get_signed_cookie(PENDING_LINK_COOKIE, max_age_days=PENDING_LINK_MINUTES / (24 * 60))
    if not value:
        return None
    try:
        return Profile(**json.loads(value))
    except (ValueError, TypeError):
        return None


def remember_pending_link(handler: BaseHandler, profile: Profile) -> None:
    handler.set_signed_cookie(
        PENDING_LINK_COOKIE, json.dumps(profile.stored()), expires_days=None, httponly=True, samesite="Lax",
        max_age=PENDING_LINK_MINUTES * 60,
    )


async def sign_in_visitor(handler: BaseHandler, user: dict) -> None:
    """Start the session, keep the cart the visitor filled before signing in, and link the
    identity left waiting for this account, if any."""
    handler.start_session(user)
    cart_id = await handler.services.carts.adopt(handler.cart_cookie(), user)
    if cart_id:
        handler.remember_cart(cart_id)
    profile = pending_link(handler)
    if profile is not None:
        handler.clear_cookie(PENDING_LINK_COOKIE)
        await handler.services.social.link_pending(user, profile)


class SignInPage(BaseHandler):
    def show_sign_in(self, *, email: str = "", error: str | None = None, notice: str | None = None) -> None:
        providers = configured_providers(self.shop_settings)
        problem = PROBLEMS.get(self.get_argument("problem", ""))
        provider = providers.get(self.get_argument("provider", ""))
        if problem and error is None:
            error = problem.format(title=provider.title if provider else "The provider")
        waiting = pending_link(self)
        if waiting is not None and waiting.provider in providers and notice is None:
            notice = LINK_NOTICE.format(title=providers[waiting.provider].title, email=waiting.verified_email)
            email = email or waiting.verified_email or ""
        self.render("login.html", email=email, error=error, notice=notice, next_url=self.safe_next_url(),
                    providers=providers.values())


class LoginHandler(SignInPage):
    def get(self):
        self.show_sign_in()

    head = get

    async def post(self):
        email = self.get_body_argument("email", "")
        user = await self.services.accounts.sign_in(
            email, self.get_body_argument("password", ""), self.client_address
        )
        if user is None:
            self.set_status(400)
            self.show_sign_in(email=email, error=WRONG_PASSWORD)
            return
        await sign_in_visitor(self, user)
        self.redirect(self.safe_next_url())


class RegisterHandler(SignInPage):
    def get(self):
        self.show_register(email="", errors={})

    def show_register(self, email: str, errors: dict) -> None:
        self.render("register.html", email=email, errors=errors, next_url=self.safe_next_url(),
                    providers=configured_providers(self.shop_settings).values())

    head = get

    async def post(self):
        email = self.get_body_argument("email", "")
        try:
            await self.services.accounts.sign_up(email, self.get_body_argument("password", ""), self.client_address)
        except ValidationError as exc:
            self.set_status(400)
            self.show_register(email, exc.errors)
            return
        # The same page whether or not the email had an account: the visitor signs in next.
        self.show_sign_in(email=normalize_email(email), notice=REGISTERED)


class LogoutHandler(BaseHandler):
    def get(self):
        self.render("logout.html")

    head = get

    async def post(self):
        if self.current_user:
            # Bumping the session version ends this cookie everywhere it was copied.
            await self.services.accounts.end_sessions(self.current_user["_id"])
        self.clear_cookie(SESSION_COOKIE)
        self.redirect("/")
