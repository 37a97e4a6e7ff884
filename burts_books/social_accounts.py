"""Social sign-in as a way into the shop's own accounts: the rules, whatever the provider.

An identity (provider, provider's user id) belongs to at most one account: its
`_id` is "provider:id", so the database refuses a second owner. An account is
found by its identities; a new identity makes a new account, except when the
provider vouches for an email that already has one: that account is never
taken over silently, its owner signs in to it once (or links from the account
page). Every account keeps at least one way in: a password, or an identity.

Sign-in attempts are kept here too: each has a random `state`, accepted once
and for ten minutes, and the PKCE verifier the token request must show.
Provider tokens are used once to read the profile and never stored.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import secrets

from bson import ObjectId

from .accounts import normalize_email
from .infra.clock import utcnow
from .infra.config import SOCIAL_PROVIDERS, Settings
from .infra.db import Database, DuplicateKeyError
from .infra.errors import Conflict, NotFound
from .infra.limits import Limits

ATTEMPT_TTL = datetime.timedelta(minutes=10)
MAX_NAME = 200


@dataclasses.dataclass(frozen=True)
class Profile:
    """Who the provider says signed in; `email_verified` only when the provider says so."""

    provider: str
    provider_id: str
    name: str
    email: str | None
    email_verified: bool

    def __post_init__(self) -> None:
        # What a provider's JSON gave: a number or an object where text belongs is a failed sign-in
        # (the handler's), not an error deep in making the account.
        if not all(isinstance(text, str) for text in (self.provider_id, self.name)) or not (
                self.email is None or isinstance(self.email, str)):
            raise TypeError(f"{self.provider} gave a profile with fields that are not text")

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.provider_id}"

    @property
    def verified_email(self) -> str | None:
        return normalize_email(self.email) if self.email and self.email_verified else None

    def stored(self) -> dict:
        return {"provider": self.provider, "provider_id": self.provider_id, "name": self.name[:MAX_NAME],
                "email": self.email, "email_verified": self.email_verified}


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One trip to a provider: what the callback needs back."""

    provider: str
    verifier: str  # the PKCE code verifier; the provider saw only its S256 challenge
    next_url: str
    user_id: ObjectId | None  # linking to this account; None: signing in

    @property
    def challenge(self) -> str:
        return pkce_challenge(self.verifier)


class LinkNeeded(Conflict):
    """The provider's verified email has an account that this identity is not linked to."""

    def __init__(self, profile: Profile):
        super().__init__(f"An account with {profile.verified_email} already exists.")
        self.profile = profile


class IdentityTaken(Conflict):
    """The identity is linked to another account."""


class LastWayIn(Conflict):
    """Unlinking would leave the account with no way to sign in."""


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _state_digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class SocialAccounts:
    def __init__(self, db: Database, limits: Limits):
        self.limits = limits
        self.users = db.users
        self.identities = db.identities
        self.attempts = db.sign_in_attempts

    # -- attempts ----------------------------------------------------------

    async def begin(self, provider: str, next_url: str, address: str,
                    user_id: ObjectId | None = None) -> tuple[str, Attempt]:
        """A new attempt from client `address`: (its state, the attempt); TooMany past the address's limit.

        Only the state's digest is stored.
        """
        await self.limits.hit(self.limits.social_sign_ins_per_address, address)
        state = secrets.token_urlsafe(32)
        attempt = Attempt(provider, secrets.token_urlsafe(64), next_url, user_id)
        await self.attempts.insert_one({
            "_id": _state_digest(state), "provider": provider, "verifier": attempt.verifier,
            "next": next_url, "user_id": user_id, "expires_at": utcnow() + ATTEMPT_TTL,
        })
        return state, attempt

    async def finish(self, provider: str, state: str) -> Attempt | None:
        """The attempt this state began, taken away so it is accepted once; None if unknown, used or expired."""
        found = await self.attempts.find_one_and_delete(
            {"_id": _state_digest(state), "provider": provider, "expires_at": {"$gt": utcnow()}}
        )
        if found is None:
            return None
        return Attempt(provider, found["verifier"], found["next"], found["user_id"])

    async def forget_expired(self) -> None:
        """Drop attempts abandoned at the provider."""
        await self.attempts.delete_many({"expires_at": {"$lte": utcnow()}})

    # -- accounts ----------------------------------------------------------

    async def sign_in(self, profile: Profile) -> dict:
        """The account this identity opens, made if new; LinkNeeded when its verified email has an account."""
        user = await self._owner(profile)
        if user is not None:
            return user
        email = profile.verified_email
        if email and await self.users.find_one({"email": email}, {"_id": 1}):
            raise LinkNeeded(profile)
        user_id = ObjectId()
        # The identity first: of two callbacks racing for one new identity, only one makes an account.
        try:
            await self._insert_identity(profile, user_id)
        except DuplicateKeyError:
            return await self.sign_in(profile)
        user = {"_id": user_id, "name": profile.name[:MAX_NAME], "staff": False, "session_version": 1,
                "identity_count": 1, "created_at": utcnow()}
        if email:
            user.update(email=email, email_proven_at=utcnow())  # the provider vouches for it
        try:
            await self.users.insert_one(user)
        except DuplicateKeyError:  # the email got an account meanwhile
            await self.identities.delete_one({"_id": profile.key, "user_id": user_id})
            raise LinkNeeded(profile) from None
        return user

    async def _owner(self, profile: Profile) -> dict | None:
        identity = await self.identities.find_one({"_id": profile.key})
        if identity is None:
            return None
        user = await self.users.find_one({"_id": identity["user_id"]})
        if user is None:
            # Left by a crash between the two inserts of sign_in: the identity opens nothing.
            await self.identities.delete_one({"_id": profile.key, "user_id": identity["user_id"]})
            return None
        await self.identities.update_one({"_id": profile.key}, {"$set": profile.stored()})
        return user

    async def _insert_identity(self, profile: Profile, user_id: ObjectId) -> None:
        await self.identities.insert_one({"_id": profile.key, "user_id": user_id, **profile.stored(),
                                          "linked_at": utcnow()})

    async def link(self, user: dict, profile: Profile) -> None:
        """Make this identity a way into `user`'s account; IdentityTaken if it opens another."""
        existing = await self.identities.find_one({"_id": profile.key})
        if existing is not None and existing["user_id"] != user["_id"]:
            if await self.users.find_one({"_id": existing["user_id"]}, {"_id": 1}):
                raise IdentityTaken(
                    "That account is already linked to another Burt's Books account: unlink it there first."
                )
            await self.identities.delete_one({"_id": profile.key, "user_id": existing["user_id"]})
            existing = None
        if existing is not None:
            await self.identities.update_one({"_id": profile.key}, {"$set": profile.stored()})
            return
        if await self.identities.find_one({"user_id": user["_id"], "provider": profile.provider}, {"_id": 1}):
            raise IdentityTaken("Your account is linked to another account there already: unlink it first.")
        if user.get("email") and profile.verified_email == user["email"]:
            await self._prove_email(user["_id"])  # before the link, which then stays (see email_proven)
        try:
            await self._insert_identity(profile, user["_id"])
        except DuplicateKeyError:
            raise IdentityTaken("That account was just linked to another Burt's Books account.") from None
        await self.users.update_one({"_id": user["_id"]}, {"$inc": {"identity_count": 1}})

    async def link_pending(self, user: dict, profile: Profile) -> bool:
        """Link an identity left waiting by LinkNeeded, once the owner of its email has signed in."""
        if not user.get("email") or profile.verified_email != user["email"]:
            return False
        try:
            await self.link(user, profile)
        except IdentityTaken:
            return False
        return True

    async def email_proven(self, user: dict) -> int:
        """The account's email is proven its owner's (they opened a link mailed to it). The first time,
        the identities linked before go, but for those whose provider vouched for that same email:
        anyone could register an email and link their own ways in, to keep once its owner takes the
        account over (a reset). Returns how many went."""
        proven_at = await self._prove_email(user["_id"])
        if proven_at is None:
            return 0
        before = self.identities.find({"user_id": user["_id"], "linked_at": {"$lt": proven_at}})
        doubtful = [identity["_id"] async for identity in before
                    if not (identity.get("email_verified") and user.get("email")
                            and normalize_email(identity.get("email") or "") == user["email"])]
        removed = await self.identities.delete_many({"_id": {"$in": doubtful}, "user_id": user["_id"]})
        if removed.deleted_count:
            await self.users.update_one({"_id": user["_id"]}, {"$inc": {"identity_count": -removed.deleted_count}})
        return removed.deleted_count

    async def _prove_email(self, user_id: ObjectId) -> datetime.datetime | None:
        """Mark the account's email proven; when it was not before, the moment it is."""
        now = utcnow()
        first = await self.users.update_one({"_id": user_id, "email_proven_at": None},
                                            {"$set": {"email_proven_at": now}})
        return now if first.modified_count else None

    async def unlink(self, user: dict, provider: str) -> None:
        """Remove the account's identity at `provider`; LastWayIn if nothing else would sign in."""
        identity = await self.identities.find_one({"user_id": user["_id"], "provider": provider})
        if identity is None:
            raise NotFound("That provider is not linked to your account.")
        # One conditional update decides, so two unlinks at once can't both pass the check.
        kept = await self.users.update_one(
            {"_id": user["_id"], "identity_count": {"$gte": 1},
             "$or": [{"password_hash": {"$type": "string"}}, {"identity_count": {"$gte": 2}}]},
            {"$inc": {"identity_count": -1}},
        )
        if kept.modified_count != 1:
            raise LastWayIn(
                "This is your only way to sign in: set a password (Forgot your password?) or link another "
                "provider first."
            )
        removed = await self.identities.delete_one({"_id": identity["_id"], "user_id": user["_id"]})
        if removed.deleted_count != 1:  # unlinked meanwhile: give the count back
            await self.users.update_one({"_id": user["_id"]}, {"$inc": {"identity_count": 1}})

    async def linked(self, user: dict) -> dict[str, dict]:
        """The account's identities by provider."""
        found = await self.identities.find({"user_id": user["_id"]}).to_list(None)
        return {identity["provider"]: identity for identity in found}


@dataclasses.dataclass(frozen=True)
class Provider:
    """A provider the shop is registered with, and where its endpoints are."""

    name: str  # in URLs and the database: google, facebook, x, github
    title: str  # what people read: Google, Facebook, X, GitHub
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    userinfo_url: str


def configured_providers(settings: Settings) -> dict[str, Provider]:
    """The providers with a client id and secret, in the order the sign-in page shows them."""
    found = {}
    for name, (title, *_urls) in SOCIAL_PROVIDERS.items():
        client_id, client_secret, authorize_url, token_url, userinfo_url = (
            getattr(settings, f"{name}_{part}")
            for part in ("client_id", "client_secret", "authorize_url", "token_url", "userinfo_url")
        )
        if client_id and client_secret:
            found[name] = Provider(name, title, client_id, client_secret, authorize_url, token_url, userinfo_url)
    return found
