"""Local accounts: register, sign in, sign out."""

from ..errors import ValidationError
from .base import SESSION_COOKIE, BaseHandler

WRONG_PASSWORD = "That email and password don't match an account."


class SignInMixin(BaseHandler):
    async def sign_in(self, user: dict) -> None:
        """Start the session, keeping the cart the visitor filled before signing in."""
        self.start_session(user)
        cart_id = await self.services.carts.adopt(self.cart_cookie(), user)
        if cart_id:
            self.remember_cart(cart_id)


class LoginHandler(SignInMixin):
    def get(self):
        self.render("login.html", email="", error=None, next_url=self.safe_next_url())

    async def post(self):
        email = self.get_body_argument("email", "")
        user = await self.services.accounts.authenticate(email, self.get_body_argument("password", ""))
        if user is None:
            self.set_status(400)
            self.render("login.html", email=email, error=WRONG_PASSWORD, next_url=self.safe_next_url())
            return
        await self.sign_in(user)
        self.redirect(self.safe_next_url())


class RegisterHandler(SignInMixin):
    def get(self):
        self.render("register.html", email="", errors={}, next_url=self.safe_next_url())

    async def post(self):
        email = self.get_body_argument("email", "")
        try:
            user = await self.services.accounts.register(email, self.get_body_argument("password", ""))
        except ValidationError as exc:
            self.set_status(400)
            self.render("register.html", email=email, errors=exc.errors, next_url=self.safe_next_url())
            return
        await self.sign_in(user)
        self.redirect(self.safe_next_url())


class LogoutHandler(BaseHandler):
    def get(self):
        self.render("logout.html")

    async def post(self):
        if self.current_user:
            # Bumping the session version ends this cookie everywhere it was copied.
            await self.services.accounts.end_sessions(self.current_user["_id"])
        self.clear_cookie(SESSION_COOKIE)
        self.redirect("/")
