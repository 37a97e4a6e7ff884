"""Local accounts: register, sign in, sign out."""

from ..accounts import normalize_email
from ..infra.errors import ValidationError
from .base import SESSION_COOKIE, BaseHandler

WRONG_PASSWORD = "That email and password don't match an account."
REGISTERED = (
    "If this email is new to Burt's Books, its account is ready: sign in with it below. "
    "If it already had an account, nothing has changed: sign in with that account's password."
)


class LoginHandler(BaseHandler):
    async def sign_in(self, user: dict) -> None:
        """Start the session, keeping the cart the visitor filled before signing in."""
        self.start_session(user)
        cart_id = await self.services.carts.adopt(self.cart_cookie(), user)
        if cart_id:
            self.remember_cart(cart_id)

    def get(self):
        self.render("login.html", email="", error=None, notice=None, next_url=self.safe_next_url())

    head = get

    async def post(self):
        email = self.get_body_argument("email", "")
        user = await self.services.accounts.sign_in(
            email, self.get_body_argument("password", ""), self.client_address
        )
        if user is None:
            self.set_status(400)
            self.render("login.html", email=email, error=WRONG_PASSWORD, notice=None, next_url=self.safe_next_url())
            return
        await self.sign_in(user)
        self.redirect(self.safe_next_url())


class RegisterHandler(BaseHandler):
    def get(self):
        self.render("register.html", email="", errors={}, next_url=self.safe_next_url())

    head = get

    async def post(self):
        email = self.get_body_argument("email", "")
        try:
            await self.services.accounts.sign_up(email, self.get_body_argument("password", ""), self.client_address)
        except ValidationError as exc:
            self.set_status(400)
            self.render("register.html", email=email, errors=exc.errors, next_url=self.safe_next_url())
            return
        # The same page whether or not the email had an account: the visitor signs in next.
        self.render("login.html", email=normalize_email(email), error=None, notice=REGISTERED,
                    next_url=self.safe_next_url())


class LogoutHandler(BaseHandler):
    def get(self):
        self.render("logout.html")

    async def post(self):
        if self.current_user:
            # Bumping the session version ends this cookie everywhere it was copied.
            await self.services.accounts.end_sessions(self.current_user["_id"])
        self.clear_cookie(SESSION_COOKIE)
        self.redirect("/")
