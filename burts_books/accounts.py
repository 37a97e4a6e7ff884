"""Accounts: shoppers and staff, argon2id passwords, per-user session versions.

A session cookie names the user and the session version it was issued
under; signing out bumps the version, which ends every such cookie.
"""

from __future__ import annotations

import asyncio
import functools
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from bson import ObjectId

from .clock import utcnow
from .db import Database, DuplicateKeyError, object_id
from .errors import ValidationError

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

_hasher = PasswordHasher()  # argon2id with the library's current recommended costs


@functools.cache
def _dummy_hash() -> str:
    # Verified against when the email is unknown, so timing doesn't reveal which emails exist.
    # Made on first use, not at import: every command and server start would pay for it.
    return _hasher.hash("not a real password")


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationError({"password": f"Use at least {MIN_PASSWORD} characters."})
    if len(password) > MAX_PASSWORD:
        raise ValidationError({"password": f"Use at most {MAX_PASSWORD} characters."})


async def _in_thread(func, *args):
    # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


class Accounts:
    def __init__(self, db: Database):
        self.users = db.users

    async def register(self, email: str, password: str, *, staff: bool = False) -> dict:
        email = normalize_email(email)
        errors = {}
        if not _EMAIL.fullmatch(email) or len(email) > 254:
            errors["email"] = "Give a valid email address."
        try:
            check_password(password)
        except ValidationError as exc:
            errors.update(exc.errors)
        if errors:
            raise ValidationError(errors)
        user = {
            "email": email,
            "password_hash": await _in_thread(_hasher.hash, password),
            "staff": staff,
            "session_version": 1,
            "created_at": utcnow(),
        }
        try:
            result = await self.users.insert_one(user)
        except DuplicateKeyError:
            raise ValidationError({"email": "An account with this email already exists."}) from None
        user["_id"] = result.inserted_id
        return user

    async def authenticate(self, email: str, password: str) -> dict | None:
        user = await self.users.find_one({"email": normalize_email(email)})
        stored = user.get("password_hash") if user else None
        try:
            await _in_thread(_hasher.verify, stored or _dummy_hash(), password or "")
        except (VerificationError, InvalidHashError):
            return None
        if stored is None:
            return None
        if _hasher.check_needs_rehash(stored):
            new_hash = await _in_thread(_hasher.hash, password)
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

    async def set_staff(self, email: str, staff: bool) -> bool:
        """Grant or remove the staff role; False when there is no such account."""
        result = await self.users.update_one(
            {"email": normalize_email(email)}, {"$set": {"staff": staff}}
        )
        return result.matched_count == 1
