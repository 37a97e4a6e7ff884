"""A fake OAuth 2.0 provider for the tests: authorize, token and user-info endpoints shaped like
Google's, Facebook's, X's and GitHub's, served by a local Tornado app on a loopback port.

It checks what a real provider checks (client id and secret, redirect URI, single-use
codes, the PKCE verifier against the S256 challenge) and has switches for what goes
wrong at a provider: the person cancels, the token or user-info endpoint fails.
`FakeProvider.settings()` points a shop's settings at it; `.flags()` does the same for
a shop process.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import urllib.parse

import tornado.httpserver
import tornado.netutil
import tornado.web

PROVIDERS = ("google", "facebook", "x", "github")


def client_id(provider: str) -> str:
    return f"{provider}-client-id"


def client_secret(provider: str) -> str:
    return f"{provider}-client-secret-{'s' * 16}"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclasses.dataclass
class Person:
    """Who is signed in at the provider."""

    id: str
    name: str
    email: str | None = None
    verified: bool = True


@dataclasses.dataclass
class Grant:
    provider: str
    challenge: str
    redirect_uri: str


class FakeProvider:
    def __init__(self) -> None:
        # GitHub's user ids are numbers.
        self.people = {provider: Person("4242" if provider == "github" else f"{provider}-42", "Ada Reader",
                                        "ada@example.com") for provider in PROVIDERS}
        self.cancel = False  # the person clicks "Cancel" at the provider
        self.authorize_error = ""  # the provider answers the authorize request with this error
        self.token_fails = False  # the token endpoint answers 500
        self.userinfo_fails = False  # the user-info endpoint answers 500
        self.grants: dict[str, Grant] = {}  # code -> what it was issued for; taken on use
        self.tokens: dict[str, str] = {}  # access token -> provider
        self.token_requests: list[dict] = []  # every token request's arguments, in order
        self.verifier_refusals = 0  # token requests refused for a wrong or missing PKCE verifier
        self.url = ""
        self._server: tornado.httpserver.HTTPServer | None = None

    def app(self) -> tornado.web.Application:
        provider = r"(google|facebook|x|github)"
        return tornado.web.Application([
            (rf"/{provider}/authorize", Authorize, {"fake": self}),
            (rf"/{provider}/token", Token, {"fake": self}),
            (rf"/{provider}/user", UserInfo, {"fake": self}),
            (r"/github/user/emails", GitHubEmails, {"fake": self}),
        ])

    # -- serving -----------------------------------------------------------

    def start(self) -> FakeProvider:
        """Serve on the running event loop."""
        [listener] = tornado.netutil.bind_sockets(0, "127.0.0.1")
        self._server = tornado.httpserver.HTTPServer(self.app())
        self._server.add_sockets([listener])
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def serve_in_thread(self) -> threading.Event:
        """Serve from a thread of its own (for a shop process and a browser); set the event it returns to stop."""
        started, stopping = threading.Event(), threading.Event()

        async def serve() -> None:
            self.start()
            started.set()
            await asyncio.get_running_loop().run_in_executor(None, stopping.wait)
            self.stop()

        threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()
        started.wait(10)
        return stopping

    # -- pointing a shop at it ---------------------------------------------

    def endpoints(self, provider: str) -> dict[str, str]:
        return {
            f"{provider}_client_id": client_id(provider),
            f"{provider}_client_secret": client_secret(provider),
            f"{provider}_authorize_url": f"{self.url}/{provider}/authorize",
            f"{provider}_token_url": f"{self.url}/{provider}/token",
            f"{provider}_userinfo_url": f"{self.url}/{provider}/user",
        }

    def settings(self, providers=PROVIDERS) -> dict[str, str]:
        return {name: value for provider in providers for name, value in self.endpoints(provider).items()}

    def flags(self, providers=PROVIDERS) -> list[str]:
        return [f"--{name.replace('_', '-')}={value}" for name, value in self.settings(providers).items()]


class FakeHandler(tornado.web.RequestHandler):
    def initialize(self, fake: FakeProvider) -> None:
        self.fake = fake

    def refuse(self, status: int, error: str) -> None:
        self.set_status(status)
        self.finish({"error": error})

    def person(self, provider: str) -> Person:
        return self.fake.people[provider]


class Authorize(FakeHandler):
    def get(self, provider):
        if self.get_argument("client_id", "") != client_id(provider):
            self.refuse(400, "unknown client_id")
            return
        redirect_uri, state = self.get_argument("redirect_uri", ""), self.get_argument("state", "")
        pkce = self.get_argument("code_challenge_method", "") == "S256" and self.get_argument("code_challenge", "")
        if self.get_argument("response_type", "") != "code" or not redirect_uri or not state or not pkce:
            self.refuse(400, "invalid_request")
            return
        if self.fake.cancel or self.fake.authorize_error:
            back = {"error": "access_denied" if self.fake.cancel else self.fake.authorize_error, "state": state}
        else:
            code = secrets.token_urlsafe(16)
            self.fake.grants[code] = Grant(provider, self.get_argument("code_challenge"), redirect_uri)
            back = {"code": code, "state": state}
        self.redirect(redirect_uri + "?" + urllib.parse.urlencode(back))


class Token(FakeHandler):
    def get(self, provider):
        # Facebook's token endpoint is read with GET (as Tornado's FacebookGraphMixin does); the others take POST.
        if provider != "facebook":
            self.refuse(405, "use POST")
            return
        self.token(provider, {name: self.get_argument(name) for name in self.request.arguments})

    def post(self, provider):
        if provider == "facebook":
            self.refuse(405, "use GET")
            return
        arguments = {name: self.get_body_argument(name) for name in self.request.body_arguments}
        if provider == "x":  # X takes a confidential client's credentials in a Basic header
            scheme, _, encoded = self.request.headers.get("Authorization", "").partition(" ")
            pair = base64.b64decode(encoded).decode() if scheme == "Basic" else ""
            identity, _, secret = pair.partition(":")
            arguments.update(client_id=identity, client_secret=secret)
        self.token(provider, arguments)

    def token(self, provider: str, arguments: dict) -> None:
        self.fake.token_requests.append({"provider": provider, **arguments})
        if self.fake.token_fails:
            self.refuse(500, "server_error")
            return
        credentials = (arguments.get("client_id"), arguments.get("client_secret"))
        if credentials != (client_id(provider), client_secret(provider)):
            self.refuse(401, "invalid_client")
            return
        grant = self.fake.grants.pop(arguments.get("code", ""), None)
        if grant is None or grant.provider != provider or grant.redirect_uri != arguments.get("redirect_uri"):
            self.refuse(400, "invalid_grant")
            return
        if s256(arguments.get("code_verifier", "")) != grant.challenge:
            self.fake.verifier_refusals += 1
            self.refuse(400, "invalid_grant: PKCE verifier does not match")
            return
        token = secrets.token_urlsafe(16)
        self.fake.tokens[token] = provider
        self.finish({"access_token": token, "token_type": "bearer", "expires_in": 3600})


class UserInfo(FakeHandler):
    def get(self, provider):
        token = self.access_token(provider)
        if token is None:
            return
        person = self.person(provider)
        if provider == "google":
            self.finish({"sub": person.id, "name": person.name, "email": person.email,
                         "email_verified": person.verified})
        elif provider == "facebook":
            self.finish({"id": person.id, "name": person.name, "email": person.email})
        elif provider == "x":
            self.finish({"data": {"id": person.id, "name": person.name, "username": "ada"}})
        else:
            self.finish({"id": int(person.id), "login": "ada", "name": person.name, "email": None})

    def access_token(self, provider: str) -> str | None:
        """The request's token, if this provider issued it; otherwise the answer is a refusal."""
        if self.fake.userinfo_fails:
            self.refuse(500, "server_error")
            return None
        if provider == "facebook":  # Graph API: the token and its appsecret_proof in the query
            token = self.get_argument("access_token", "")
            proof = hmac.new(client_secret(provider).encode(), token.encode(), hashlib.sha256).hexdigest()
            if self.get_argument("appsecret_proof", "") != proof:
                self.refuse(400, "bad appsecret_proof")
                return None
        else:
            scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer":
                self.refuse(401, "no bearer token")
                return None
        if self.fake.tokens.get(token) != provider:
            self.refuse(401, "invalid_token")
            return None
        return token


class GitHubEmails(UserInfo):
    def get(self):
        if self.access_token("github") is None:
            return
        person = self.person("github")
        emails = [{"email": "ada-old@example.com", "primary": False, "verified": True}]
        if person.email:
            emails.append({"email": person.email, "primary": True, "verified": person.verified})
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(emails))
