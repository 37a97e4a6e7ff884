"""Continue with Google, Facebook, X or GitHub (tornado.auth), and linking them from /account.

`GET /auth/<provider>` starts signing in and is also where the provider sends
the visitor back (with `state`, and `code` or `error`). `POST /auth/<provider>`
(signed in, XSRF-checked) starts linking the provider to the signed-in account.
Each attempt's `state` is bound to this browser by a signed cookie and accepted
once; the PKCE verifier stays on the server. The provider's access token is
used to read the profile and then dropped: never a cookie, never stored.
Whatever goes wrong brings the visitor back with a message and changes nothing.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import urllib.parse
from typing import Any

import tornado.auth
import tornado.httpclient
import tornado.web

from ..social_accounts import Attempt, IdentityTaken, LinkNeeded, Profile, Provider, configured_providers
from .auth import remember_pending_link, sign_in_visitor
from .base import BaseHandler, signed_in

log = logging.getLogger(__name__)

ATTEMPT_COOKIE = "social_attempt"
ATTEMPT_SECONDS = 10 * 60
PROVIDER_TIMEOUT = 10.0  # seconds for each call to a provider
# What a broken or unexpected provider answer raises while it is read (AssertionError: Tornado's
# FacebookGraphMixin asserts that the token answer has an access token).
PROVIDER_FAILURES = (
    tornado.httpclient.HTTPClientError, OSError, ValueError, KeyError, TypeError, AttributeError, AssertionError,
)


class SocialHandler(BaseHandler, tornado.auth.OAuth2Mixin):
    provider_name = ""
    scope: tuple[str, ...] = ()

    async def prepare(self) -> None:
        await super().prepare()
        provider = configured_providers(self.shop_settings).get(self.provider_name)
        if provider is None:
            raise tornado.web.HTTPError(404)  # not configured: as if it did not exist
        self.provider: Provider = provider
        self._OAUTH_AUTHORIZE_URL = provider.authorize_url
        self._OAUTH_ACCESS_TOKEN_URL = provider.token_url

    def redirect(self, url: str, permanent: bool = False, status: int | None = None) -> None:
        # After a POST (linking), 303: the browser goes on with a GET.
        if status is None and self.request.method == "POST":
            status = 303
        super().redirect(url, permanent, status)

    @property
    def redirect_uri(self) -> str:
        return self.absolute_url(self.reverse_url(f"auth_{self.provider_name}"))

    async def get(self):
        if not any(self.get_argument(name, "") for name in ("state", "code", "error")):
            await self.start(self.safe_next_url())
            return
        await self.come_back()

    @signed_in
    async def post(self):
        await self.start(self.reverse_url("account"), self.current_user["_id"])

    async def start(self, next_url: str, user_id=None) -> None:
        state, attempt = await self.services.social.begin(self.provider_name, next_url, self.client_address, user_id)
        self.set_signed_cookie(ATTEMPT_COOKIE, state, expires_days=None, max_age=ATTEMPT_SECONDS, httponly=True,
                               samesite="Lax")
        self.authorize_redirect(
            redirect_uri=self.redirect_uri, client_id=self.provider.client_id, scope=list(self.scope),
            extra_params={"state": state, "code_challenge": attempt.challenge, "code_challenge_method": "S256"},
        )

    async def come_back(self) -> None:
        state = self.get_argument("state", "")
        cookie = self.get_signed_cookie(ATTEMPT_COOKIE, max_age_days=ATTEMPT_SECONDS / 86400)
        self.clear_cookie(ATTEMPT_COOKIE)
        # The state must be the one this browser was sent off with, and not used before.
        if not state or not cookie or not hmac.compare_digest(cookie, state.encode()):
            self.back("expired")
            return
        attempt = await self.services.social.finish(self.provider_name, state)
        if attempt is None:
            self.back("expired")
            return
        error = self.get_argument("error", "")
        if error or not self.get_argument("code", ""):
            self.back("cancelled" if error == "access_denied" else "failed", attempt)
            return
        try:
            profile = await self.profile(self.get_argument("code"), attempt.verifier)
        except PROVIDER_FAILURES as exc:
            log.warning("%s sign-in failed: %s", self.provider.title, exc)
            self.back("failed", attempt)
            return
        if attempt.user_id is not None:
            await self.link(attempt, profile)
        else:
            await self.sign_in(attempt, profile)

    async def sign_in(self, attempt: Attempt, profile: Profile) -> None:
        try:
            user = await self.services.social.sign_in(profile)
        except LinkNeeded:
            if self.current_user and self.current_user.get("email") == profile.verified_email:
                # Already signed in to the account of that email: link at once, or say why it can't be;
                # sent to sign in again, they would find nothing linked, and be sent back here.
                try:
                    await self.services.social.link(self.current_user, profile)
                except IdentityTaken:
                    self.redirect(self.reverse_url("account") + "?" + urllib.parse.urlencode(
                        {"problem": "taken", "provider": self.provider_name}))
                    return
                self.redirect(attempt.next_url)
                return
            remember_pending_link(self, profile)
            self.redirect(self.reverse_url("login") + "?" + urllib.parse.urlencode({"next": attempt.next_url}))
            return
        await sign_in_visitor(self, user)
        self.redirect(attempt.next_url)

    async def link(self, attempt: Attempt, profile: Profile) -> None:
        # Only the account that started linking, in the browser it started in, gets the identity.
        if not self.current_user or self.current_user["_id"] != attempt.user_id:
            self.back("expired")
            return
        try:
            await self.services.social.link(self.current_user, profile)
        except IdentityTaken:
            self.back("taken", attempt)
            return
        self.redirect(self.reverse_url("account") + "?" + urllib.parse.urlencode({"linked": self.provider_name}))

    def back(self, problem: str, attempt: Attempt | None = None) -> None:
        """To the page the attempt came from (the account page when linking, else sign-in), saying what went wrong."""
        query = {"problem": problem, "provider": self.provider_name}
        if attempt is not None and attempt.user_id is not None and self.current_user:
            self.redirect(self.reverse_url("account") + "?" + urllib.parse.urlencode(query))
            return
        if attempt is not None:
            query["next"] = attempt.next_url
        self.redirect(self.reverse_url("login") + "?" + urllib.parse.urlencode(query))

    # -- talking to the provider -------------------------------------------

    async def profile(self, code: str, verifier: str) -> Profile:
        raise NotImplementedError

    async def provider_json(self, url: str, **kwargs: Any) -> Any:
        response = await self.get_auth_http_client().fetch(url, request_timeout=PROVIDER_TIMEOUT, **kwargs)
        return json.loads(response.body)

    async def access_token(self, code: str, verifier: str, *, basic_auth: bool = False) -> str:
        """Trade the code (and the PKCE verifier) for an access token, used once and forgotten."""
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": verifier, "client_id": self.provider.client_id}
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if basic_auth:
            pair = f"{self.provider.client_id}:{self.provider.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            body["client_secret"] = self.provider.client_secret
        answer = await self.provider_json(self.provider.token_url, method="POST", headers=headers,
                                          body=urllib.parse.urlencode(body))
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise ValueError(f"no access token in the answer: {answer.get('error', 'no error given')}")
        return token

    async def userinfo(self, token: str, url: str | None = None) -> Any:
        return await self.provider_json(url or self.provider.userinfo_url, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/json",
        })


class GoogleHandler(SocialHandler, tornado.auth.GoogleOAuth2Mixin):
    provider_name = "google"
    scope = ("openid", "email", "profile")

    async def profile(self, code: str, verifier: str) -> Profile:
        info = await self.userinfo(await self.access_token(code, verifier))
        return Profile("google", str(info["sub"]), info.get("name") or "", info.get("email"),
                       info.get("email_verified") is True)


class FacebookHandler(SocialHandler, tornado.auth.FacebookGraphMixin):
    provider_name = "facebook"
    scope = ("public_profile", "email")
    _verifier = ""

    def _oauth_request_token_url(self, redirect_uri: str | None = None, client_id: str | None = None,
                                 client_secret: str | None = None, code: str | None = None,
                                 extra_params: dict[str, Any] | None = None) -> str:
        # Tornado's Facebook token request, plus the PKCE verifier.
        return super()._oauth_request_token_url(redirect_uri, client_id, client_secret, code,
                                                {**(extra_params or {}), "code_verifier": self._verifier})

    async def facebook_request(self, path: str, access_token: str | None = None, post_args=None, **args: Any) -> Any:
        # The profile ("/me", the only call made) from the configured user-info endpoint.
        return await self.oauth2_request(self.provider.userinfo_url, access_token, post_args, **args)

    async def profile(self, code: str, verifier: str) -> Profile:
        self._verifier = verifier
        user = await self.get_authenticated_user(  # extra_fields: only its keys are read
            redirect_uri=self.redirect_uri, client_id=self.provider.client_id,
            client_secret=self.provider.client_secret, code=code, extra_fields={"email": True},
        )
        if not user or not user.get("id"):
            raise ValueError("Facebook gave no profile")
        # Facebook doesn't say whether it verified the email: it is kept, never trusted.
        return Profile("facebook", str(user["id"]), user.get("name") or "", user.get("email"), False)


class XHandler(SocialHandler):
    """X (Twitter) through OAuth 2.0 with PKCE: TwitterMixin's OAuth 1.0a is deprecated since Tornado 6.3."""

    provider_name = "x"
    scope = ("users.read", "tweet.read")

    async def profile(self, code: str, verifier: str) -> Profile:
        # X takes a confidential client's credentials in a Basic Authorization header.
        data = (await self.userinfo(await self.access_token(code, verifier, basic_auth=True)))["data"]
        return Profile("x", str(data["id"]), data.get("name") or "@" + data.get("username", ""), None, False)


class GitHubHandler(SocialHandler):
    provider_name = "github"
    scope = ("read:user", "user:email")

    async def profile(self, code: str, verifier: str) -> Profile:
        token = await self.access_token(code, verifier)
        user = await self.userinfo(token)
        # The profile's email is whatever the person made public; /user/emails says which are verified.
        emails = await self.userinfo(token, self.provider.userinfo_url.rstrip("/") + "/emails")
        primary = next((entry for entry in emails if entry.get("primary")), None)
        return Profile("github", str(user["id"]), user.get("name") or user.get("login") or "",
                       primary["email"] if primary else None, bool(primary and primary.get("verified") is True))


HANDLERS = (GoogleHandler, FacebookHandler, XHandler, GitHubHandler)
