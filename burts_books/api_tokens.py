"""API tokens: a program acts as the person who made its token.

A token is 256 random bits behind a recognizable prefix, shown once when it
is made and stored only as its SHA-256. A slow salted hash (as for passwords)
adds nothing against guessing a secret that random, and a plain digest lets
each request find its token through a unique index. Rights come from the
owner's user document at every request, never from the token. Tokens are
staff's: one works while its owner is staff and was made since they last
became staff, so taking the role away ends their tokens for good, even if
it is given back later.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets

from .accounts import Accounts
from .infra.clock import utcnow
from .infra.db import Database, object_id
from .infra.errors import NotFound, ValidationError

PREFIX = "bbk_"  # says what a token is when one turns up in a log, a script or a secret scanner
SHOWN = len(PREFIX) + 4  # characters kept in clear, so people can tell their tokens apart
TOKEN_LENGTH = len(PREFIX) + 43  # token_urlsafe(32) is 43 characters
MAX_NAME = 100
MAX_TOKENS = 20  # per person: tokens are for a few programs, and the page lists them all
# last_used_at is a hint for people deciding what to revoke: writing it once a
# minute, not on every request, keeps busy programs from writing on every call.
LAST_USED_EVERY = datetime.timedelta(minutes=1)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _made_under_current_role(document: dict, user: dict) -> bool:
    return bool(user.get("staff")) and document["created_at"] >= user.get("staff_since", document["created_at"])


class ApiTokens:
    def __init__(self, db: Database, accounts: Accounts):
        self.tokens = db.api_tokens
        self.accounts = accounts

    async def create(self, owner: dict, name: str) -> tuple[str, dict]:
        """A new token of `owner` named `name`: (the token, its stored document). Only the digest is kept."""
        name = " ".join((name or "").split())
        if not name:
            raise ValidationError({"name": "Name the token after the program that will use it."})
        if len(name) > MAX_NAME:
            raise ValidationError({"name": f"Use at most {MAX_NAME} characters."})
        await self._forget_void(owner)
        # Counted before inserting: two forms sent at once may make one token more, which is harmless.
        if await self.tokens.count_documents({"owner_id": owner["_id"]}) >= MAX_TOKENS:
            raise ValidationError({"name": f"You have {MAX_TOKENS} tokens already: revoke one you no longer use."})
        token = PREFIX + secrets.token_urlsafe(32)
        document = {
            "hash": digest(token),
            "prefix": token[:SHOWN],
            "name": name,
            "owner_id": owner["_id"],
            "created_at": utcnow(),
            "last_used_at": None,
        }
        result = await self.tokens.insert_one(document)
        document["_id"] = result.inserted_id
        return token, document

    async def owned_by(self, owner: dict) -> list[dict]:
        """The owner's tokens, newest first (digests left out)."""
        await self._forget_void(owner)
        found = self.tokens.find({"owner_id": owner["_id"]}, {"hash": 0}).sort([("created_at", -1), ("_id", -1)])
        return await found.to_list(None)

    async def revoke(self, owner: dict, token_id: str) -> None:
        """Delete one of the owner's tokens; programs using it are refused from the next request on."""
        oid = object_id(token_id)
        result = await self.tokens.delete_one({"_id": oid, "owner_id": owner["_id"]}) if oid else None
        if result is None or result.deleted_count != 1:
            raise NotFound("You have no such token; it may have been revoked already.")

    async def owner_of(self, token: str) -> dict | None:
        """The user a token stands for, as stored now; None for a token that is wrong or revoked."""
        if len(token) != TOKEN_LENGTH or not token.startswith(PREFIX):
            return None
        document = await self.tokens.find_one({"hash": digest(token)})
        if document is None:
            return None
        user = await self.accounts.by_id(document["owner_id"])
        if user is None or not _made_under_current_role(document, user):
            await self.tokens.delete_one({"_id": document["_id"]})
            return None
        await self._note_use(document)
        return user

    async def _forget_void(self, owner: dict) -> None:
        """Delete the owner's tokens made before they last became staff."""
        if owner.get("staff_since"):
            await self.tokens.delete_many({"owner_id": owner["_id"], "created_at": {"$lt": owner["staff_since"]}})

    async def _note_use(self, document: dict) -> None:
        now = utcnow()
        last = document["last_used_at"]
        if last is None or now - last >= LAST_USED_EVERY:
            await self.tokens.update_one({"_id": document["_id"]}, {"$set": {"last_used_at": now}})

