"""Who a request comes from: the account its session names, and the cart it may see.

Every page reads both. On the embedded store they are kept, per session and
cart, until either document changes: this process makes every write there,
so the store can tell at once (Database.versions), and a kept pair is never
older than the documents. On a server another process may write at any
moment, so every request reads both.
"""

from __future__ import annotations

from typing import NamedTuple

import cachetools

from .accounts import Accounts
from .carts import Cart, Carts
from .infra.db import Database, object_id

VISITORS_KEPT = 10_000  # a kept pair is about 1 KB (tracemalloc)

Session = tuple[str, int]  # the account's id and session version, from the session cookie


class _Kept(NamedTuple):
    documents: tuple  # ((collection, _id), ...) of the account and the cart
    versions: tuple  # theirs when they were read
    user: dict | None
    cart: Cart | None


class Visitors:
    def __init__(self, db: Database, accounts: Accounts, carts: Carts, size: int = VISITORS_KEPT):
        self.db = db
        self.accounts = accounts
        self.carts = carts
        self._kept: cachetools.LRUCache = cachetools.LRUCache(maxsize=size)

    async def find(self, session: Session | None, cart_id: str | None) -> tuple[dict | None, Cart | None]:
        """The account of `session` (None: none, or the session has ended) and the cart `cart_id`
        if this visitor may see it (Carts.find). The account is the caller's own copy."""
        if session is None and cart_id is None:
            return None, None
        key = (session, cart_id)
        kept = self._kept.get(key)
        if kept is not None and self.db.versions(*kept.documents) == kept.versions:
            user, cart = kept.user, kept.cart
        else:
            documents = ((self.accounts.users.name, object_id(session[0]) if session else None),
                         (self.carts.carts.name, cart_id))
            # Taken before reading: a write landing while the reads wait makes the pair kept stale at once.
            versions = self.db.versions(*documents)
            user = await self.accounts.by_session(*session) if session else None
            cart = await self.carts.find(cart_id, user)
            if versions is not None:
                self._kept[key] = _Kept(documents, versions, user, cart)
        return (dict(user) if user is not None else None), cart
