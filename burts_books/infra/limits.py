"""Every limit on abuse in one place: how often a visitor, an account or an address may do
something, and how much expensive work runs at once.

A `Limit` allows `allowed` hits per subject (a cart, an email, a client address) in a
window of `seconds` that opens at the subject's first hit. Hits are counted before the
work they guard, so a burst of parallel requests can't slip past the count.

With REDIS_URL the counters live in Redis (one atomic script: INCR, and PEXPIRE on the
first hit), so every process counts together. A Redis that fails or doesn't answer within
`TIMEOUT` lets the request through, with a warning in the log, and the requests after it until
it answers again: a limit guards the shop, it is no reason to stop serving it. Without Redis
the counters live in this process, in a cache of bounded size that forgets windows as they
close.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import logging
import math
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import cachetools
from redis.exceptions import RedisError

from . import clock
from .bus import redacted, redis_client
from .config import Settings
from .errors import TooMany

log = logging.getLogger(__name__)

MINUTE = 60
SIGN_IN_WINDOW = 15 * MINUTE
HOUR = 60 * MINUTE
TIMEOUT = 0.5  # seconds a Redis call may take before the request goes on without it
PROBE_INTERVAL = 1.0  # seconds between asking a failed Redis whether it answers again
MEMORY_COUNTERS = 100_000  # subjects counted at once in one process (some 200 bytes each)
KEY_PREFIX = "burts_books:limit:"


@dataclasses.dataclass(frozen=True)
class Limit:
    name: str
    allowed: int
    seconds: float
    refusal: str  # what the refused person reads; {wait} says how long to wait ("in 3 minutes")


def wait_phrase(seconds: int) -> str:
    if seconds < 90:
        return f"in {seconds} second{'s' if seconds != 1 else ''}"
    return f"in {math.ceil(seconds / MINUTE)} minutes"


class MemoryCounters:
    """Counters of one process; a window's counter goes when the window closes."""

    def __init__(self, size: int = MEMORY_COUNTERS) -> None:
        # Each entry is (count, when its window closes); the cache drops it then, or the least
        # recently used entries first when full.
        self.entries: cachetools.TLRUCache = cachetools.TLRUCache(
            # The timer looks the clock up at each call, so a test can move it.
            size, ttu=lambda _key, entry, _now: entry[1], timer=lambda: clock.monotonic()
        )

    async def hit(self, key: str, seconds: float) -> tuple[int, float]:
        now = clock.monotonic()
        count, closes = self.entries.get(key, (0, now + seconds))
        self.entries[key] = (count + 1, closes)
        return count + 1, closes - now

    async def forgive(self, key: str) -> None:
        count, closes = self.entries.get(key, (0, 0.0))
        if count > 0:
            self.entries[key] = (count - 1, closes)

    async def close(self) -> None:
        pass


_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
"""
_FORGIVE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then redis.call('DECR', KEYS[1]) end
"""


class RedisCounters:
    """Counters every process shares; a Redis that fails lets requests through.

    Once a call has failed, requests stop asking Redis at all until a probe in
    the background hears it answer again: a hung Redis costs one request the
    timeout, not every request.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis = redis_client(url, TIMEOUT)
        self._hit = self.redis.register_script(_HIT)
        self._forgive = self.redis.register_script(_FORGIVE)
        self.failing = False
        self._probe: asyncio.Task | None = None

    async def _call(self, script: Callable, key: str, *args: Any) -> Any:
        if self.failing:
            return None
        try:
            # Bounds the whole call (a reconnect included), not only each socket read.
            async with asyncio.timeout(TIMEOUT):
                return await script(keys=[key], args=list(args))
        except (RedisError, OSError, TimeoutError) as exc:
            if not self.failing:
                log.warning("limits: Redis at %s failed (%s); not limiting until it answers",
                            redacted(self.url), exc or "timeout")
                self.failing = True
                self._probe = asyncio.ensure_future(self._until_it_answers())
            return None

    async def _until_it_answers(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            try:
                async with asyncio.timeout(TIMEOUT):
                    await self.redis.ping()
            except (RedisError, OSError, TimeoutError):
                continue
            log.info("limits: Redis at %s answers again", redacted(self.url))
            self.failing = False
            return

    async def hit(self, key: str, seconds: float) -> tuple[int, float]:
        answer = await self._call(self._hit, key, max(1, round(seconds * 1000)))
        if answer is None:
            return 0, 0.0
        count, ttl_ms = answer
        return int(count), max(int(ttl_ms), 0) / 1000

    async def forgive(self, key: str) -> None:
        await self._call(self._forgive, key)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.wait([self._probe])
        await self.redis.aclose()


class Gate:
    """At most `at_once` runs of some work at a time, and at most `queue` waiting for a turn;
    beyond that TooMany, so a flood can neither exhaust memory nor queue without end."""

    def __init__(self, at_once: int, queue: int, refusal: str) -> None:
        self._turns = asyncio.Semaphore(at_once)
        self._queue = queue
        self.waiting = 0
        self.refusal = refusal

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._turns.locked() and self.waiting >= self._queue:
            raise TooMany(self.refusal, retry_after=1)
        self.waiting += 1
        try:
            await self._turns.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._turns.release()


class InFlight:
    """At most `allowed` requests of one subject under way at once in this process; beyond
    that TooMany, so one client can't take every turn a Gate gives, or every file descriptor."""

    def __init__(self, allowed: int, refusal: str, retry_after: int = 1) -> None:
        self.allowed = allowed
        self.refusal = refusal
        self.retry_after = retry_after
        self._under_way: collections.Counter[str] = collections.Counter()

    @contextmanager
    def one(self, subject: str) -> Iterator[None]:
        self.take(subject)
        try:
            yield
        finally:
            self.give_back(subject)

    def take(self, subject: str) -> None:
        """Count one more under way for `subject` (TooMany past the limit); `give_back` ends it.
        For what outlives a `with` block, such as a WebSocket connection."""
        if self._under_way[subject] >= self.allowed:
            raise TooMany(self.refusal, retry_after=self.retry_after)
        self._under_way[subject] += 1

    def give_back(self, subject: str) -> None:
        self._under_way[subject] -= 1
        if not self._under_way[subject]:
            del self._under_way[subject]  # only subjects under way are kept


ADDING_FAST = "You're adding books faster than we can keep up with: try again {wait}."
ADDING_ANONYMOUSLY = (
    "Many books went into carts from your network without signing in: sign in to add more, or try again {wait}."
)
SIGNING_IN = "Too many failed sign-ins: try again {wait}."
REGISTERING = "Too many accounts were created from your network: try again {wait}."
ASKING_ALERTS = "Many restock alerts were asked for from your network: try again {wait}."
RESETTING = "Too many password reset requests: try again {wait}."
SOCIAL = "Too many sign-ins with a provider were started from your network: try again {wait}."
BUSY = "We're busy signing people in: try again in a moment."
LIVE = "Too many live connections from your address (at most {allowed}); close some and try again."
LIVE_RETRY_AFTER = 10  # a long poll answers within its timeout (25 s by default), so places free up soon


class Limits:
    """The shop's limits, from its settings; `hit` counts one use and refuses past the limit."""

    def __init__(self, settings: Settings) -> None:
        self._counters = RedisCounters(settings.redis_url) if settings.redis_url else MemoryCounters()
        self.cart_adds_per_visitor = Limit("cart-adds-visitor", settings.cart_adds_per_minute, MINUTE, ADDING_FAST)
        self.cart_adds_per_address = Limit(
            "cart-adds-address", settings.cart_adds_per_address_per_minute, MINUTE, ADDING_FAST
        )
        # Counted over an anonymous cart's lifetime, it bounds the copies an address holds without signing in.
        self.anonymous_adds_per_address = Limit(
            "anonymous-adds-address", settings.anonymous_adds_per_address, settings.anonymous_cart_ttl_seconds,
            ADDING_ANONYMOUSLY,
        )
        # One refusal for both, so it never tells whether the email or the address was refused.
        self.sign_in_per_account = Limit(
            "sign-in-account", settings.sign_in_attempts_per_account, SIGN_IN_WINDOW, SIGNING_IN
        )
        self.sign_in_per_address = Limit(
            "sign-in-address", settings.sign_in_attempts_per_address, SIGN_IN_WINDOW, SIGNING_IN
        )
        self.registrations_per_address = Limit(
            "registrations-address", settings.registrations_per_address, HOUR, REGISTERING
        )
        # Each "notify me" may end in a mail to any address: bounded, so the shop sends no floods.
        self.restock_alerts_per_address = Limit(
            "restock-alerts-address", settings.restock_alerts_per_address, HOUR, ASKING_ALERTS
        )
        # Counted for every email asked about, with an account or not: the refusal tells nothing.
        self.password_resets_per_address = Limit(
            "password-resets-address", settings.password_resets_per_address, HOUR, RESETTING
        )
        self.password_resets_per_email = Limit(
            "password-resets-email", settings.password_resets_per_email, HOUR, RESETTING
        )
        # Each start keeps an attempt for ten minutes: a flood of them must not fill the store.
        self.social_sign_ins_per_address = Limit(
            "social-sign-ins-address", settings.social_sign_ins_per_address, SIGN_IN_WINDOW, SOCIAL
        )
        self.copies_per_cart = settings.max_copies_per_cart
        self.password_hashing = Gate(settings.password_hashes_at_once, settings.password_hash_queue, BUSY)
        self.sign_ins_under_way = InFlight(settings.sign_ins_at_once_per_address, BUSY)
        # Each held long poll and WebSocket holds a file descriptor; one client must not take them all.
        self.live_connections = InFlight(
            settings.max_live_per_address, LIVE.format(allowed=settings.max_live_per_address), LIVE_RETRY_AFTER
        )

    @staticmethod
    def key(limit: Limit, subject: str) -> str:
        # Hashed: any subject (an email as typed, say) makes a short key that names no one.
        return KEY_PREFIX + limit.name + ":" + hashlib.blake2b(subject.encode(), digest_size=16).hexdigest()

    async def hit(self, limit: Limit, subject: str) -> None:
        """Count one use by `subject`; TooMany (counted all the same) once past the limit."""
        count, remaining = await self._counters.hit(self.key(limit, subject), limit.seconds)
        if count > limit.allowed:
            wait = max(1, math.ceil(remaining))
            raise TooMany(limit.refusal.format(wait=wait_phrase(wait)), retry_after=wait)

    async def forgive(self, limit: Limit, subject: str) -> None:
        """Take back one use by `subject` that turned out well (a right password)."""
        await self._counters.forgive(self.key(limit, subject))

    async def close(self) -> None:
        await self._counters.close()
