"""Inventory event bus: tells every open page that a book's stock changed.

Events are small JSON-able dicts such as
``{"isbn": "9780596529321", "available": 4, "version": 7}``. Subscribers are
plain synchronous callables; every subscriber sees every event once, in the
order the bus delivers them.

``EventBus`` is the interface the rest of the shop sees.
``InProcessBus`` serves a single process (embedded mode). ``RedisBus`` fans
events out to all processes through one Redis pub/sub channel and survives
Redis restarts; after a gap in its subscription it calls the ``on_reconnect``
callbacks so the caller can resync from the database, because events
published during the gap are lost.
"""

import abc
import asyncio
import json
import logging
import random
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Event = dict
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

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect; events published after this returns reach the subscribers."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Disconnect and let go of every resource."""

    @abc.abstractmethod
    async def publish(self, event: Event) -> None:
        """Send `event` to every subscriber, in this process and the others."""

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

    async def publish(self, event: Event) -> None:
        # Round-trip through JSON like RedisBus does, so embedded mode rejects
        # the same events and subscribers never share the publisher's dict.
        self._deliver_soon(json.loads(json.dumps(event)))


class RedisBus(EventBus):
    """Delivers events to subscribers in every process via Redis pub/sub.

    Local subscribers receive an event when it comes back from Redis, so all
    processes see the same order. If Redis cannot take a publish, the event
    is delivered locally only (other processes resync via ``on_reconnect``).
    """

    min_retry_delay = 0.1
    max_retry_delay = 2.0
    timeout = 2.0  # connect / command / subscribe-confirmation timeout

    def __init__(self, url: str, channel: str = "burts_books:inventory") -> None:
        super().__init__()
        self.url = url
        self.channel = channel
        # Retries are ours (the listener loop), not redis-py's: its built-in
        # retry would silently resubscribe and we would never resync.
        self._publisher = aioredis.Redis.from_url(
            url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout,
            socket_keepalive=True, retry=Retry(NoBackoff(), 0),
        )
        # A separate client without socket_timeout: an idle subscription
        # must block indefinitely (older redis-py applies socket_timeout to
        # pub/sub reads).
        self._subscriber = aioredis.Redis.from_url(
            url, socket_connect_timeout=self.timeout, socket_keepalive=True, retry=Retry(NoBackoff(), 0),
        )
        self._listener: asyncio.Task | None = None

    async def start(self) -> None:
        if self._listener is not None:
            return
        # Subscribe before returning when Redis is up, so nothing published
        # after start() is missed; otherwise keep trying in the background.
        try:
            pubsub = await self._subscribe()
        except (RedisError, OSError) as exc:
            log.warning("Redis at %s unavailable (%s); will keep retrying",
                        self.url, exc)
            pubsub = None
        self._listener = asyncio.create_task(self._listen(pubsub))

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            # wait() rather than await: don't re-raise the task's cancellation.
            await asyncio.wait([self._listener])
            self._listener = None
        await self._publisher.aclose()
        await self._subscriber.aclose()

    async def publish(self, event: Event) -> None:
        data = json.dumps(event)
        try:
            await self._publisher.publish(self.channel, data)
        except (RedisError, OSError) as exc:
            log.warning("publish to Redis failed (%s); delivering locally only",
                        exc)
            self._deliver_soon(json.loads(data))

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
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._on_message(message["data"])
                log.warning("Redis subscription ended; resubscribing")
            except (RedisError, OSError) as exc:
                log.warning("lost Redis subscription (%s); reconnecting", exc)
            except Exception:
                log.exception("Redis listener failed; reconnecting")
            finally:
                await pubsub.aclose()
            pubsub = None

    async def _resubscribe(self) -> PubSub:
        delay = self.min_retry_delay
        while True:
            # Jitter keeps many processes from reconnecting in lockstep.
            await asyncio.sleep(random.uniform(delay / 2, delay))
            try:
                pubsub = await self._subscribe()
            except (RedisError, OSError) as exc:
                log.debug("Redis still unavailable: %s", exc)
                delay = min(delay * 2, self.max_retry_delay)
                continue
            log.info("Redis subscription to %s re-established", self.channel)
            _call_all(self._reconnect_callbacks)
            return pubsub

    def _on_message(self, data: bytes) -> None:
        try:
            event = json.loads(data)
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            log.warning("skipping malformed inventory event %r: %s", data[:200], exc)
            return
        _call_all(self._subscribers, event)


def make_bus(redis_url: str | None) -> EventBus:
    """Redis bus when a URL is configured, else the in-process one."""
    return RedisBus(redis_url) if redis_url else InProcessBus()
