"""Forgotten passwords: a link mailed to the account's email, single-use, valid for an hour.

The answer to a request is the same whether or not the email has an account;
requests are limited per client address and per email (known or not). A link
carries 256 random bits and only their SHA-256 is stored, as for API tokens.
Using it sets the new password and ends every session of the account.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Callable

from .accounts import Accounts, normalize_email, valid_email
from .infra.clock import utcnow
from .infra.db import Database
from .infra.errors import Invalid, ValidationError
from .infra.limits import Limits
from .infra.mail import Mail, Mailer
from .social_accounts import SocialAccounts

LINK_TTL = datetime.timedelta(hours=1)
SUBJECT = "Reset your Burt's Books password"
EXPIRED = "This reset link has expired or has been used already: ask for a new one."


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PasswordResets:
    def __init__(self, db: Database, accounts: Accounts, limits: Limits, mailer: Mailer, social: SocialAccounts):
        self.resets = db.password_resets
        self.accounts = accounts
        self.social = social
        self.limits = limits
        self.mailer = mailer

    async def request(self, email: str, address: str, link_for: Callable[[str], str]) -> None:
        """Mail a reset link (`link_for(token)`) if `email` has an account; tell nothing either way.

        ValidationError for something that is not an email, TooMany past the limits.
        """
        email = normalize_email(email)
        if not valid_email(email):
            raise ValidationError({"email": "Give a valid email address."})
        await self.limits.hit(self.limits.password_resets_per_address, address)
        await self.limits.hit(self.limits.password_resets_per_email, email)
        user = await self.accounts.by_email(email)
        if user is None:
            return
        token = secrets.token_urlsafe(32)
        await self.resets.insert_one({
            "_id": digest(token), "user_id": user["_id"], "created_at": utcnow(), "expires_at": utcnow() + LINK_TTL,
        })
        self.mailer.send(Mail(email, SUBJECT, (
            "Someone, hopefully you, asked to reset the password of your Burt's Books account.\n\n"
            f"Choose a new password here (the link works once, for one hour):\n{link_for(token)}\n\n"
            "If it wasn't you, ignore this mail: your password stays as it is.\n"
        )))

    async def valid(self, token: str) -> bool:
        return await self.resets.find_one({"_id": digest(token), "expires_at": {"$gt": utcnow()}}) is not None

    async def use(self, token: str, password: str, address: str) -> tuple[dict, int]:
        """Set the password the link was sent for and end every session; the account as it is now, and
        how many sign-ins with other services went with it (see SocialAccounts.email_proven).

        ValidationError for a bad password (the link stays usable), Invalid for a used or expired link,
        TooMany while client `address` has its share of sign-ins under way.
        """
        # A made-up link costs no password hash; the link is taken only once the hash is ready.
        if not await self.valid(token):
            raise Invalid(EXPIRED)
        # Until it is taken, one link can be sent any number of times at once, each costing a hash:
        # counted as the address's sign-ins are, so its flood can't take every turn at argon2.
        with self.limits.sign_ins_under_way.one(address):
            password_hash = await self.accounts.hash_password(password)
        found = await self.resets.find_one_and_delete({"_id": digest(token), "expires_at": {"$gt": utcnow()}})
        if found is None:
            raise Invalid(EXPIRED)
        user = await self.accounts.set_password_hash(found["user_id"], password_hash)
        if user is None:
            raise Invalid(EXPIRED)
        await self.resets.delete_many({"user_id": user["_id"]})  # the other links mailed go too
        return user, await self.social.email_proven(user)

    async def forget_expired(self) -> None:
        await self.resets.delete_many({"expires_at": {"$lte": utcnow()}})
