"""Accounts: shoppers and staff, argon2id passwords, per-user session versions.

A session cookie names the user and the session version it was issued
under; signing out bumps the version, which ends every such cookie.

Nothing a visitor does here tells whether an email has an account: an unknown
email costs the same argon2 work as a known one, is limited the same way and
gets the same answers, and registering an email that has an account looks like
registering a new one. argon2 runs a bounded number of hashes at once, each
taking 64 MiB, so a flood of sign-ins can't exhaust memory.

Roles: `staff` runs the shop; `owner` (always staff too) also grants and
revokes staff from the users page. The first staff account becomes an owner;
`burts-books create-user EMAIL --owner` makes more. Nobody changes their own
role from the site, and an owner's role changes only from the command line,
so the shop always keeps someone who can manage it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from bson import ObjectId
from pymongo import ReturnDocument

from .history import History, entry, recording
from .infra.clock import utcnow
from .infra.db import Database, DuplicateKeyError, object_id
from .infra.errors import NotAllowed, NotFound, ValidationError
from .infra.limits import Limits
from .infra.paging import Paged

USERS_PAGE = 50
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
# No character RFC 5322 gives a meaning in an address header (",", quotes, "<", "(", ...): a mail's To
# built from "john,smith@example.org" would go to "john" and to "smith@example.org".
_NOT_IN_AN_ADDRESS = r'@\s()<>\[\]:;\\,"'
_EMAIL = re.compile(rf"[^{_NOT_IN_AN_ADDRESS}]+@[^{_NOT_IN_AN_ADDRESS}]+\.[^{_NOT_IN_AN_ADDRESS}]+")
BAD_EMAIL = "Give a valid email address."

_hasher = PasswordHasher()  # argon2id with the library's current recommended costs


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the email is unknown, so timing doesn't reveal which emails exist.
    # Made on first use, not at import: every command and server start would pay for it.
    return _hasher.hash("not a real password")


def _verify(stored: str | None, password: str) -> None:
    # In the hashing thread: the dummy hash, made on first use, costs what a hash costs.
    _hasher.verify(stored or _dummy_hash(), password)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def valid_email(email: str) -> bool:
    """Whether a normalized email looks deliverable."""
    return bool(_EMAIL.fullmatch(email)) and len(email) <= 254


def known_as(user: dict) -> str:
    """How pages and the history name an account: its email, else (social sign-in without one) its name."""
    return user.get("email") or f"{user.get('name') or 'account'} ({user['_id']})"


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError({"password": f"Use at least {MIN_PASSWORD} characters."})
    if len(password) > MAX_PASSWORD:
        raise ValidationError({"password": f"Use at most {MAX_PASSWORD} characters."})


def check_new_account(email: str, password: str) -> str:
    """The email as stored, if these can make an account; ValidationError says what is wrong."""
    email = normalize_email(email)
    errors = {}
    if not valid_email(email):
        errors["email"] = BAD_EMAIL
    try:
        check_password(password)
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    return email


class AccountExists(ValidationError):
    def __init__(self) -> None:
        super().__init__({"email": "An account with this email already exists."})


class Accounts:
    def __init__(self, db: Database, limits: Limits):
        self.users = db.users
        self.limits = limits
        self.history = History(db)

    async def _argon2(self, func, *args):
        # Hundreds of milliseconds of CPU and 64 MiB each: off the event loop, and a bounded number at once.
        async with self.limits.password_hashing.turn():
            return await asyncio.get_running_loop().run_in_executor(None, func, *args)

    async def register(self, email: str, password: str, *, staff: bool = False, owner: bool = False) -> dict:
        """Make an account; ValidationError for bad input, AccountExists when the email has one.

        An owner is staff too; the first staff account is an owner."""
        email = check_new_account(email, password)
        user = {
            "email": email,
            "password_hash": await self._argon2(_hasher.hash, password),
            "staff": staff,
            "session_version": 1,
            "created_at": utcnow(),
        }
        try:
            result = await self.users.insert_one(user)
        except DuplicateKeyError:
            raise AccountExists() from None
        user["_id"] = result.inserted_id
        if staff:
            user["owner"] = await self._make_owner(email, owner)
        return user

    async def _make_owner(self, email: str, owner: bool) -> bool:
        """Make this staff account an owner when asked, or when the shop has no owner yet."""
        if owner or await self.users.count_documents({"owner": True}, limit=1) == 0:
            await self.users.update_one({"email": email, "staff": True}, {"$set": {"owner": True}})
            return True
        return False

    async def sign_up(self, email: str, password: str, address: str) -> None:
        """Register a visitor from client `address`, telling nothing of whether the email had an account.

        A new email gets its account; for one that has an account nothing changes, after the
        same work. Either way the visitor signs in next, which only the account's owner can.
        ValidationError for bad input (which says nothing about accounts), TooMany past the
        address's limit on registrations.
        """
        check_new_account(email, password)  # before counting: a typo doesn't use up a registration
        with self.limits.sign_ins_under_way.one(address):
            await self.limits.hit(self.limits.registrations_per_address, address)
            with contextlib.suppress(AccountExists):
                await self.register(email, password)

    async def sign_in(self, email: str, password: str, address: str) -> dict | None:
        """The account these credentials open, or None; from client `address`.

        Failed sign-ins are limited per email, known or not, and per address: TooMany past
        either, even with the right password. Every attempt counts before its password is
        checked, so parallel guesses can't slip past; a right password gives its attempt back.
        An address has only a few sign-ins under way at once, so its flood can't take every
        turn at argon2 from everyone else.
        """
        with self.limits.sign_ins_under_way.one(address):
            return await self._counted_sign_in(email, password, address)

    async def _counted_sign_in(self, email: str, password: str, address: str) -> dict | None:
        """`sign_in` for a caller that already holds one of `address`'s sign-ins under way."""
        email = normalize_email(email)
        limits = self.limits
        await limits.hit(limits.sign_in_per_address, address)
        await limits.hit(limits.sign_in_per_account, email)
        user = await self.authenticate(email, password)
        if user is not None:
            await limits.forgive(limits.sign_in_per_address, address)
            await limits.forgive(limits.sign_in_per_account, email)
        return user

    async def authenticate(self, email: str, password: str) -> dict | None:
        """The account these credentials open, or None; not limited (see `sign_in`)."""
        user = await self.users.find_one({"email": normalize_email(email)})
        stored = user.get("password_hash") if user else None
        try:
            await self._argon2(_verify, stored, password or "")
        except (VerificationError, InvalidHashError):
            return None
        if stored is None:
            return None
        if _hasher.check_needs_rehash(stored):
            new_hash = await self._argon2(_hasher.hash, password)
            await self.users.update_one({"_id": user["_id"]}, {"$set": {"password_hash": new_hash}})
        return user

    async def by_session(self, user_id: str, session_version: int) -> dict | None:
        oid = object_id(user_id)
        if oid is None:
            return None
        return await self.users.find_one({"_id": oid, "session_version": session_version})

    async def by_id(self, user_id: ObjectId) -> dict | None:
        return await self.users.find_one({"_id": user_id})

    async def by_email(self, email: str) -> dict | None:
        return await self.users.find_one({"email": normalize_email(email)})

    async def end_sessions(self, user_id: ObjectId) -> None:
        await self.users.update_one({"_id": user_id}, {"$inc": {"session_version": 1}})

    async def hash_password(self, password: str) -> str:
        """The stored form of a new password; ValidationError when it is too short or too long."""
        check_password(password)
        return await self._argon2(_hasher.hash, password)

    async def set_password_hash(self, user_id: ObjectId, password_hash: str) -> dict | None:
        """Store a new password and end every session of the account; the account as it is now."""
        return await self.users.find_one_and_update(
            {"_id": user_id},
            {"$set": {"password_hash": password_hash}, "$inc": {"session_version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def change_password(self, user: dict, current: str, new: str, address: str) -> dict:
        """Replace the password of `user`, who must give the current one; every session ends.

        The current password is checked as a sign-in from `address` is, limits included, so a
        stolen session can't be used to guess it. Returns the account as it is now, to start
        this browser's new session from.
        """
        check_password(new)  # before counting: a new password too short uses up no attempt
        # The new password is hashed only after the current one is right, and in the same turn of
        # the address's sign-ins under way: a refused change costs no argon2 beyond sign_in's.
        with self.limits.sign_ins_under_way.one(address):
            signed_in = await self._counted_sign_in(user.get("email") or "", current, address)
            if signed_in is None or signed_in["_id"] != user["_id"]:
                raise ValidationError({"current_password": "That is not your current password."})
            password_hash = await self._argon2(_hasher.hash, new)
        changed = await self.set_password_hash(user["_id"], password_hash)
        if changed is None:
            raise NotFound("Your account no longer exists.")
        return changed

    async def set_staff(self, email: str, staff: bool, *, owner: bool = False) -> bool:
        """Grant the staff role (and the owner's, if `owner`), or remove both (the command line);
        False when there is no such account."""
        email = normalize_email(email)
        changes = {"staff": staff} if staff else {"staff": False, "owner": False}
        if staff:  # since when, for their API tokens (api_tokens.py); a grant to staff changes nothing
            await self.users.update_one({"email": email, "staff": {"$ne": True}}, {"$set": {"staff_since": utcnow()}})
        result = await self.users.update_one({"email": email}, {"$set": changes})
        if result.matched_count and staff:
            await self._make_owner(email, owner)
        return result.matched_count == 1

    async def change_staff(self, by: dict, user_id: str, staff: bool) -> dict:
        """An owner grants (or revokes) someone's staff role from the site; returns their account.

        NotAllowed for anyone but an owner, for one's own role, and for another owner's.
        """
        if not by.get("owner"):
            raise NotAllowed("Only an owner of the shop can grant or revoke the staff role.")
        oid = object_id(user_id)
        user = await self.by_id(oid) if oid is not None else None
        if user is None:
            raise NotFound("There is no such account.")
        if user["_id"] == by["_id"]:
            raise NotAllowed("You can't change your own role; ask another owner.")
        if user.get("owner"):
            raise NotAllowed("An owner's role is changed from the command line (burts-books create-user).")
        role = {True: "staff", False: "shopper"}
        change = entry("role", known_as(by), account=known_as(user), old=role[bool(user.get("staff"))],
                       new=role[staff])
        # Conditioned on not being an owner, in case one was made meanwhile; recorded in the same update.
        changes = {"staff": staff, "role_changed_by": known_as(by), "role_changed_at": utcnow()}
        if staff and not user.get("staff"):
            changes["staff_since"] = utcnow()  # for their API tokens (api_tokens.py)
        await self.users.update_one(
            {"_id": user["_id"], "owner": {"$ne": True}}, recording({"$set": changes}, [change]))
        await self.history.drain("users", {"_id": user["_id"]})
        return {**user, "staff": staff}

    async def search(self, query: str = "", page: int = 1, size: int = USERS_PAGE) -> Paged:
        """Accounts whose email starts with `query`, in email order."""
        criteria = {"email": {"$regex": "^" + re.escape(normalize_email(query))}} if query.strip() else {}
        cursor = self.users.find(criteria, {"password_hash": 0}).sort("email", 1)
        users = await cursor.skip((page - 1) * size).limit(size).to_list(size)
        return Paged(users, await self.users.count_documents(criteria), page, size)
