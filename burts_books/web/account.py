"""A person's account: /account (name, email, linked providers, password, signing out everywhere),
and the API tokens staff make for their programs."""

from __future__ import annotations

import urllib.parse

from ..infra.errors import NotFound, ValidationError
from ..social_accounts import LastWayIn, configured_providers
from .auth import PROBLEMS, sign_in_visitor
from .base import BaseHandler, signed_in, staff_only

# What ?problem= on the account page says, after linking went wrong; never text from the request itself.
ACCOUNT_PROBLEMS = {
    **PROBLEMS,
    "taken": (
        "That {title} account is linked to another Burt's Books account (or yours has another {title} account "
        "linked): unlink it there first. Nothing was changed."
    ),
}
DONE = {
    "linked": "{title} is linked: you can sign in with it from now on.",
    "unlinked": "{title} is unlinked: it no longer signs you in.",
}
PASSWORD_CHANGED = "Your password is changed. Every other browser signed in to your account is signed out."
PASSWORD_SET = "Your new password is set, and every other browser signed in to your account is signed out."
PASSWORD_NOTICES = {
    "changed": PASSWORD_CHANGED, "reset": PASSWORD_SET,
    "reset-unlinked": PASSWORD_SET + " The sign-ins with other services linked to this account before its email "
                      "was confirmed are unlinked, as anyone could have linked them: link yours again below.",
}


class AccountHandler(BaseHandler):
    @signed_in
    async def get(self):
        providers = configured_providers(self.shop_settings)
        error = notice = None
        problem = ACCOUNT_PROBLEMS.get(self.get_argument("problem", ""))
        provider = providers.get(self.get_argument("provider", ""))
        if problem:
            error = problem.format(title=provider.title if provider else "The provider")
        for done, message in DONE.items():
            if self.get_argument(done, "") in providers:
                notice = message.format(title=providers[self.get_argument(done)].title)
        notice = PASSWORD_NOTICES.get(self.get_argument("password", ""), notice)
        await self.show(error=error, notice=notice)

    head = get

    async def show(self, *, error: str | None = None, notice: str | None = None, errors: dict | None = None,
                   status: int = 200) -> None:
        self.set_status(status)
        providers = configured_providers(self.shop_settings).values()
        self.allow_forms_to(*(provider.authorize_url for provider in providers))
        self.render("account/index.html", user=self.current_user, error=error, notice=notice, errors=errors or {},
                    providers=providers,
                    linked=await self.services.social.linked(self.current_user))


class PasswordChangeHandler(AccountHandler):
    @signed_in
    async def post(self):
        try:
            user = await self.services.accounts.change_password(
                self.current_user, self.get_body_argument("current_password", ""),
                self.get_body_argument("password", ""), self.client_address,
            )
        except ValidationError as exc:
            await self.show(errors=exc.errors, error="Your password was not changed.", status=400)
            return
        # Every session ended with the old password; this browser gets a new one.
        await sign_in_visitor(self, user)
        self.redirect(self.reverse_url("account") + "?password=changed", status=303)


class UnlinkHandler(AccountHandler):
    @signed_in
    async def post(self, provider_name):
        try:
            await self.services.social.unlink(self.current_user, provider_name)
        except (LastWayIn, NotFound) as exc:
            await self.show(error=str(exc), status=409 if isinstance(exc, LastWayIn) else 404)
            return
        query = urllib.parse.urlencode({"unlinked": provider_name})
        self.redirect(self.reverse_url("account") + "?" + query, status=303)


class TokensHandler(BaseHandler):
    """GET: your tokens and the form for a new one. POST: make one and show it, this once only."""

    @staff_only
    async def get(self):
        await self.show_tokens()

    head = get

    @staff_only
    async def post(self):
        name = self.get_body_argument("name", "")
        try:
            token, document = await self.services.api_tokens.create(self.current_user, name)
        except ValidationError as exc:
            await self.show_tokens(name=name, errors=exc.errors, status=400)
            return
        # Shown in this answer and never again: only the token's digest is stored.
        await self.show_tokens(new_token=token, new_name=document["name"], status=201)

    async def show_tokens(self, *, name: str = "", errors: dict | None = None, new_token: str = "",
                          new_name: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.render("account/tokens.html", tokens=await self.services.api_tokens.owned_by(self.current_user),
                    name=name, errors=errors or {}, new_token=new_token, new_name=new_name)


class RevokeTokenHandler(BaseHandler):
    @staff_only
    async def post(self, token_id):
        await self.services.api_tokens.revoke(self.current_user, token_id)
        self.redirect(self.reverse_url("account_tokens"), status=303)
