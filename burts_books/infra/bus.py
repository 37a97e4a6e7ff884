"""Inventory event bus: tells every open page that a book's stock changed.

Events are small JSON-able dicts such as
``{"isbn": "9780596529321", "available": 4, "version": 7}``. Subscribers are
plain synchronous callables; every subscriber sees every event once, in the
order the bus delivers them.

``EventBus`` is the interface the rest of the shop sees.
``InProcessBus`` serves a single process (embedded mode). ``RedisBus`` fans
events out to all processes through one Redis pub/sub channel and survives
Redis restarts, and a Redis that hangs; after a gap in its subscription it
calls the ``on_reconnect`` callbacks so the caller can resync from the
database, because events published during the gap are lost.
"""

import abc
import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .config import ConfigError
from .throttled_log import ThrottledLog

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 2.0  # seconds, unless the caller says otherwise (--redis-timeout-seconds)
RESYNC = b"resync"  # a message, not an event (not JSON): events were lost, read the database again

Event = dict
T = TypeVar("T")
Subscriber = Callable[[Event], None]


def _register(registry: dict, callback: Callable) -> Callable[[], None]:
    # A fresh key per registration, so the same callable may be registered
    # twice and each unsubscribe removes exactly its own registration.
    key = object()
    registry[key] = callback

    def unregister() -> None:
        registry.pop(key, None)

    return unregister


def _call_all(registry: dict, *args) -> None:
    # Snapshot: callbacks may (un)subscribe while being called.
    for callback in list(registry.values()):
        try:
            callback(*args)
        except Exception:
            log.exception("inventory bus callback %r failed", callback)


class EventBus(abc.ABC):
    """Publish events; every subscriber in every process connected to the bus gets each one."""

    def __init__(self) -> None:
        self._subscribers: dict = {}
        self._reconnect_callbacks: dict = {}
        self.published = 0  # events this process published (for the metrics)
        self.received = 0  # events that reached this process's subscribers

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect; events published after this returns reach the subscribers."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect and let go of every resource."""

    @abc.abstractmethod
    async def publish(self, event: Event) -> None:
        """Send `event` to every subscriber, in this process and the others."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return if the bus answers; raise (RedisError, OSError) if not."""

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` for every event; returns the function that stops it."""
        return _register(self._subscribers, callback)

    def on_reconnect(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` after events may have been lost (a Redis outage): time to resync."""
        return _register(self._reconnect_callbacks, callback)

    def _deliver_soon(self, event: Event) -> None:
        # Deferred rather than called inline so that a subscriber which
        # publishes cannot make other subscribers see events out of order.
        asyncio.get_running_loop().call_soon(_call_all, self._subscribers, event)


class InProcessBus(EventBus):
    """Delivers events to subscribers in this process only."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def ping(self) -> None:
        pass  # it lives in this process: it answers if the process does

    async def publish(self, event: Event) -> None:
        # Round-trip through JSON like RedisBus does, so embedded mode rejects
        # the same events and subscribers never share the publisher's dict.
        self._deliver_soon(json.loads(json.dumps(event)))
        self.published += 1
        self.received += 1


def redis_client(url: str, timeout: float, *, retries: int = 0) -> aioredis.Redis:
    """A Redis client each of whose calls (connecting included) gives up after `timeout` seconds.

    A call that finds its connection broken (Redis restarted since) is tried
    `retries` more times on a new one; one that timed out is not, or a hung
    Redis would hold it twice as long.
    """
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, socket_keepalive=True,
        retry=Retry(NoBackoff(), retries, supported_errors=(RedisConnectionError,)),
    )


def redacted(url: str) -> str:
    """`url` fit for a log: any password in it replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rpartition('@')[2]}"
    query = urllib.parse.urlencode([(key, "***" if key == "password" else value)
                                    for key, value in urllib.parse.parse_qsl(parts.query)], safe="*")
    return parts._replace(netloc=netloc, query=query).geturl()


_KEY_LABEL = b"burts_books event bus signatures v1"


class Signatures:
    """HMAC-SHA256 signatures on bus messages, with a key derived from each cookie secret.

    The key is HMAC(secret, a fixed label), as HKDF-Expand derives one: a key
    for this use alone, so a bus signature never passes as a cookie's. Messages
    are signed with the current secret's key; those of secrets being rotated
    out are still accepted. A replayed genuine message does no harm: it
    carries an old version, and every reader ignores versions it has passed.
    """

    def __init__(self, secrets: Sequence[str]):
        self._keys = [hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest() for secret in secrets]

    @staticmethod
    def _mac(key: bytes, payload: bytes) -> bytes:
        return hmac.new(key, payload, hashlib.sha256).hexdigest().encode()

    def sign(self, payload: bytes) -> bytes:
        return self._mac(self._keys[0], payload) + b"." + payload

    def verify(self, message: bytes) -> bytes | None:
        """The payload of a message signed with one of our keys, else None."""
        signature, dot, payload = message.partition(b".")
        if dot and any(hmac.compare_digest(signature, self._mac(key, payload)) for key in self._keys):
            return payload
        return None


class RedisBus(EventBus):
    """Delivers events to subscribers in every process via Redis pub/sub.

    Local subscribers receive an event when it comes back from Redis, so all
    processes see the same order. `publish` only queues the event, and one
    task sends the queue in order: a slow or hung Redis never holds up the
    request that made the change. If Redis cannot take an event, that event
    and all queued behind it are delivered locally only; once Redis takes
    messages again, a RESYNC message tells every process to resync as after
    a reconnect (``on_reconnect``): a Redis that hung for less than a
    subscriber's timeout never broke their subscriptions.

    Messages are signed (see `Signatures`): anyone else who can publish on
    the channel could otherwise push, say, a "sold out" with a version far
    ahead, which every open page would show and then never move from. Those
    not signed by this shop are dropped and logged.
    """

    min_retry_delay = 0.1
    max_retry_delay = 2.0
    # Events waiting for Redis, at most; past that publish() waits (a bulk import outrunning Redis, say).
    MAX_QUEUED = 10_000

    def __init__(self, url: str, secrets: Sequence[str], *, timeout: float = REDIS_TIMEOUT,
                 channel: str = "burts_books:inventory") -> None:
        if not secrets:
            raise ConfigError("the Redis event bus signs its messages with the cookie secret: set BURTS_COOKIE_SECRET")
        super().__init__()
        self.url = url
        self.channel = channel
        self.timeout = timeout  # connect, command, subscribe confirmation, and PING answer
        self._signatures = Signatures(secrets)
        self._publisher = redis_client(url, timeout, retries=1)
        # No retries for the subscription: redis-py's would resubscribe silently, and the bus never resync.
        self._subscriber = redis_client(url, timeout)
        self._queue: asyncio.Queue[str] = asyncio.Queue(self.MAX_QUEUED)
        self._sender: asyncio.Task | None = None
        self._announcer: asyncio.Task | None = None  # of a RESYNC, after events only this process got
        self._listener: asyncio.Task | None = None
        self._failed_log = ThrottledLog(log)
        self._unsigned_log = ThrottledLog(log)

    async def start(self) -> None:
        if self._listener is not None:
            return
        # Subscribe before returning when Redis is up, so nothing published
        # after start() is missed; otherwise keep trying in the background.
        try:
            pubsub = await self._subscribe()
        except (RedisError, OSError) as exc:
            log.warning("Redis at %s unavailable (%s); will keep retrying", redacted(self.url), exc)
            pubsub = None
        self._listener = asyncio.create_task(self._listen(pubsub))
        self._sender = asyncio.create_task(self._send_queued())

    async def stop(self) -> None:
        if self._sender is not None:
            # What was published before stop() still goes out (a command-line import's last events, say).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), 2 * self.timeout)
        for task in (self._sender, self._listener, self._announcer):
            if task is not None:
                task.cancel()
                # wait() rather than await: don't re-raise the task's cancellation.
                await asyncio.wait([task])
        self._sender = self._listener = self._announcer = None
        await self._publisher.aclose()
        await self._subscriber.aclose()

    async def publish(self, event: Event) -> None:
        # Serialized here, so an event JSON can't carry fails in the caller, as in-process.
        await self._queue.put(json.dumps(event))
        self.published += 1

    async def ping(self) -> None:
        await self._publisher.ping()

    async def _send_queued(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                await self._publisher.publish(self.channel, self._signatures.sign(data.encode()))
            except (RedisError, OSError) as exc:
                # Redis is away or hung: rather than each wait out a timeout of its own, every
                # event queued meanwhile goes to this process's subscribers now.
                self._failed_log.warning("publish to Redis failed (%s); delivering locally only", exc)
                self._deliver_soon(json.loads(data))
                while not self._queue.empty():
                    self._deliver_soon(json.loads(self._queue.get_nowait()))
                    self._queue.task_done()
                if self._announcer is None or self._announcer.done():
                    self._announcer = asyncio.create_task(self._announce_resync())
            finally:
                self._queue.task_done()

    async def _announce_resync(self) -> None:
        """Tell every process, once Redis takes messages again, that events went to this one only."""
        await self._when_redis_takes(lambda: self._publisher.publish(self.channel, self._signatures.sign(RESYNC)))

    async def _when_redis_takes(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """What `attempt()` returns once Redis takes it, tried again less and less often until then."""
        delay = self.min_retry_delay
        while True:
            # Jitter keeps many processes from retrying in lockstep.
            await asyncio.sleep(random.uniform(delay / 2, delay))
            try:
                return await attempt()
            except (RedisError, OSError) as exc:
                log.debug("Redis still unavailable: %s", exc)
                delay = min(delay * 2, self.max_retry_delay)

    async def _subscribe(self) -> PubSub:
        pubsub = self._subscriber.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            # subscribe() only sends the command; until Redis confirms,
            # messages published elsewhere could still slip past us.
            reply = await pubsub.get_message(timeout=self.timeout)
            if not reply or reply["type"] != "subscribe":
                raise RedisError(f"no confirmation of SUBSCRIBE: {reply!r}")
        except BaseException:
            await pubsub.aclose()
            raise
        return pubsub

    async def _listen(self, pubsub: PubSub | None) -> None:
        # pubsub is None when start() could not connect; the first successful
        # connection then counts as a reconnect, since events may have been
        # missed meanwhile.
        while True:
            if pubsub is None:
                pubsub = await self._resubscribe()
            try:
                await self._receive(pubsub)
            except (RedisError, OSError) as exc:
                log.warning("lost Redis subscription (%s); reconnecting", exc)
            except Exception:
                log.exception("Redis listener failed; reconnecting")
            finally:
                await pubsub.aclose()
            pubsub = None

    async def _receive(self, pubsub: PubSub) -> None:
        """Hand on messages until the subscription fails; a Redis that has been quiet must answer a PING.

        A hung Redis looks just like a quiet one until it is asked something:
        without the PING, events lost while it hung would never be resynced.
        """
        while True:
            message = await pubsub.get_message(timeout=self.timeout)
            if message is None:
                await pubsub.ping()
                message = await pubsub.get_message(timeout=self.timeout)
                if message is None:
                    raise RedisError(f"no answer to PING within {self.timeout:g} s")
            if message["type"] == "message":
                self._on_message(message["data"])

    async def _resubscribe(self) -> PubSub:
        pubsub = await self._when_redis_takes(self._subscribe)
        log.info("Redis subscription to %s re-established", self.channel)
        _call_all(self._reconnect_callbacks)
        return pubsub

    def _on_message(self, data: bytes) -> None:
        payload = self._signatures.verify(data)
        if payload is None:
            self._unsigned_log.warning(
                "dropped a message on %s not signed by this shop (forged, or sent with another cookie secret): %r",
                self.channel, data[:100],
            )
            return
        if payload == RESYNC:
            log.info("events were lost on %s while Redis was away: resyncing", self.channel)
            _call_all(self._reconnect_callbacks)
            return
        try:
            event = json.loads(payload)
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            log.warning("skipping malformed inventory event %r: %s", payload[:200], exc)
            return
        self.received += 1
        _call_all(self._subscribers, event)


def make_bus(redis_url: str | None, secrets: Sequence[str] = (), timeout: float = REDIS_TIMEOUT) -> EventBus:
    """A Redis bus when a URL is configured, its messages signed with keys from `secrets` (the current
    cookie secret first, then those being rotated out); else the in-process one."""
    return RedisBus(redis_url, secrets, timeout=timeout) if redis_url else InProcessBus()
