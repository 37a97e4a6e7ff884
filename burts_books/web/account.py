"""A person's account: for now the API tokens staff make for their programs (a later /account page joins it)."""

from ..infra.errors import ValidationError
from .base import BaseHandler, staff_only


class TokensHandler(BaseHandler):
    """GET: your tokens and the form for a new one. POST: make one and show it, this once only."""

    @staff_only
    async def get(self):
        await self.show_tokens()

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
