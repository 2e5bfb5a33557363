"""Publish/subscribe between processes: in process memory (the default, one instance) or Redis.

Both implementations keep the same promises, like encode/broadcaster's backends:
- `publish` never waits for subscribers; a subscriber reads from a bounded queue.
- Delivery is at most once. When a subscriber may have missed messages (its queue overflowed,
  or the Redis connection dropped and came back) it receives a `RESET` event in their place,
  so it can resynchronise from the database instead of silently losing messages.
- A `ChannelSet` (`Broker.channel_set`) is a subscription whose channels come and go: each
  channel is held by reference count (`hold`/`release`), subscribed when its first holder
  appears and unsubscribed when its last one goes; `live(channel)` waits until what is
  published on it from then on is certain to arrive. An instance thus receives only the
  channels it has a local interest in, on one connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.tasks import cancel_and_wait

logger = logging.getLogger("gochat.broker")

DEFAULT_QUEUE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class BrokerEvent:
    channel: str
    data: bytes
    reset: bool = False


class Subscription:
    """A bounded queue of events on some channels; iterate it with `async for`."""

    def __init__(self, channels: tuple[str, ...], maxsize: int) -> None:
        self.channels = channels
        self._queue: asyncio.Queue[BrokerEvent] = asyncio.Queue(maxsize)
        self._failure: BaseException | None = None

    def deliver(self, event: BrokerEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.reset()

    def reset(self) -> None:
        """Drop what is queued and tell the reader it missed something."""
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(BrokerEvent(channel="", data=b"", reset=True))

    def fail(self, exc: BaseException) -> None:
        """The subscription cannot go on: its reader raises `exc` (never a silent end)."""
        self._failure = exc
        self.reset()

    def __aiter__(self) -> AsyncIterator[BrokerEvent]:
        return self

    async def __anext__(self) -> BrokerEvent:
        event = await self._queue.get()
        if self._failure is not None:
            raise self._failure
        return event

    def get_nowait(self) -> BrokerEvent | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None


class ChannelSet(Subscription):
    """A subscription whose channels change: the reference counts of every local interest in
    each channel, kept in one place. `hold` and `release` never wait (they are called from
    plain code); the broker subscribes and unsubscribes behind them, in order."""

    def __init__(self, maxsize: int) -> None:
        super().__init__((), maxsize)
        self._holders: dict[str, int] = {}

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._holders)

    def holds(self, channel: str) -> bool:
        return channel in self._holders

    def hold(self, channel: str) -> None:
        count = self._holders.get(channel, 0)
        self._holders[channel] = count + 1
        if count == 0:
            self._added(channel)

    def release(self, channel: str) -> None:
        count = self._holders.get(channel, 0)
        if count > 1:
            self._holders[channel] = count - 1
        elif count == 1:
            del self._holders[channel]
            self._removed(channel)

    async def live(self, channel: str) -> None:
        """Returns once the broker confirmed the subscription of held `channel`: everything
        published on it afterwards arrives (or a RESET says it was missed). Returns at once
        when the broker is unreachable: the RESET that follows its return covers the gap."""
        return

    def _added(self, channel: str) -> None: ...

    def _removed(self, channel: str) -> None: ...


class Broker(ABC):
    @abstractmethod
    async def publish(self, channel: str, data: bytes) -> None: ...

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publishes each `(channel, data)` in order (on Redis, in one round trip)."""
        for channel, data in messages:
            await self.publish(channel, data)

    @abstractmethod
    def channel_set(
        self, *, maxsize: int = DEFAULT_QUEUE_SIZE
    ) -> contextlib.AbstractAsyncContextManager[ChannelSet]: ...

    @abstractmethod
    def subscribe(
        self, *channels: str, maxsize: int = DEFAULT_QUEUE_SIZE
    ) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    async def aclose(self) -> None:
        return None


async def publish_patiently(broker: Broker, channel: str, data: bytes, *, patience: float) -> bool:
    """Publish, retrying with backoff for up to `patience` seconds (a Redis restart takes a
    moment). False if it never went through; the last error is logged."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.05
    while True:
        try:
            await broker.publish(channel, data)
            return True
        except Exception:
            if loop.time() + delay > deadline:
                logger.exception("publishing on %s failed for %.1f s", channel, patience)
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


class MemoryBroker(Broker):
    """Delivers synchronously to the subscribers of this process."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}

    async def publish(self, channel: str, data: bytes) -> None:
        event = BrokerEvent(channel, data)
        for subscription in tuple(self._subscribers.get(channel, ())):
            subscription.deliver(event)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, *channels: str, maxsize: int = DEFAULT_QUEUE_SIZE
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(channels, maxsize)
        for channel in channels:
            self._add(channel, subscription)
        try:
            yield subscription
        finally:
            for channel in channels:
                self._discard(channel, subscription)

    @contextlib.asynccontextmanager
    async def channel_set(self, *, maxsize: int = DEFAULT_QUEUE_SIZE) -> AsyncIterator[ChannelSet]:
        channels = _MemoryChannelSet(self, maxsize)
        try:
            yield channels
        finally:
            for channel in channels.held:
                self._discard(channel, channels)

    def _add(self, channel: str, subscription: Subscription) -> None:
        self._subscribers.setdefault(channel, set()).add(subscription)

    def _discard(self, channel: str, subscription: Subscription) -> None:
        members = self._subscribers.get(channel)
        if members is not None:
            members.discard(subscription)
            if not members:
                del self._subscribers[channel]


class _MemoryChannelSet(ChannelSet):
    """Subscribed at once: publishing is synchronous in one process."""

    def __init__(self, broker: MemoryBroker, maxsize: int) -> None:
        super().__init__(maxsize)
        self._broker = broker

    def _added(self, channel: str) -> None:
        self._broker._add(channel, self)

    def _removed(self, channel: str) -> None:
        self._broker._discard(channel, self)


class RedisBroker(Broker):
    """Redis pub/sub. Each subscription has its own connection and a reader task that is
    cancelled and awaited when the subscription ends; it reconnects with backoff. A Redis
    that is not up yet does not stop a subscription: the reader subscribes when it can, and
    the subscriber gets a `RESET` then (what was published before is gone)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, channel: str, data: bytes) -> None:
        await self._redis.publish(channel, data)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        if len(messages) == 1:
            await self.publish(*messages[0])
            return
        pipeline = self._redis.pipeline(transaction=False)
        for channel, data in messages:
            pipeline.publish(channel, data)
        await pipeline.execute()

    @contextlib.asynccontextmanager
    async def channel_set(self, *, maxsize: int = DEFAULT_QUEUE_SIZE) -> AsyncIterator[ChannelSet]:
        channels = _RedisChannelSet(self._redis, maxsize)
        tasks = [
            asyncio.create_task(channels.read(), name="broker-channels-reader"),
            asyncio.create_task(channels.command(), name="broker-channels-commands"),
        ]
        try:
            yield channels
        finally:
            await cancel_and_wait(*tasks)
            await channels.aclose()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, *channels: str, maxsize: int = DEFAULT_QUEUE_SIZE
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(channels, maxsize)
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(*channels)
            subscribed = True
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            logger.warning("broker cannot subscribe yet (%s); retrying in the background", exc)
            subscribed = False
        reader = asyncio.create_task(
            self._read(pubsub, subscription, subscribed=subscribed), name="broker-reader"
        )
        try:
            yield subscription
        finally:
            await cancel_and_wait(reader)
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    @staticmethod
    async def _read(pubsub: object, subscription: Subscription, *, subscribed: bool) -> None:
        from redis.asyncio.client import PubSub

        assert isinstance(pubsub, PubSub)
        delay = 0.05
        while True:
            try:
                if not subscribed:
                    # Subscribing (again) reconnects; what was published meanwhile is gone.
                    await pubsub.subscribe(*subscription.channels)
                    subscribed = True
                    subscription.reset()
                    delay = 0.05
                message = await pubsub.get_message(timeout=1.0)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if subscribed:
                    logger.warning("broker connection lost (%s); reconnecting", exc)
                subscribed = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except Exception as exc:
                # Anything else is not a dropped connection: the subscriber's reader raises
                # it (and its supervisor acts) rather than waiting forever for nothing.
                logger.exception("broker subscription failed")
                subscription.fail(exc)
                return
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            subscription.deliver(
                BrokerEvent(
                    channel=channel.decode() if isinstance(channel, bytes) else str(channel),
                    data=message["data"],
                )
            )


class _RedisChannelSet(ChannelSet):
    """One pub/sub connection for every held channel (plain SUBSCRIBE: on a single Redis
    a message costs the server one lookup of its channel, whatever the number of channels).

    Two tasks: `command` sends the difference between what is held and what was sent (one
    SUBSCRIBE and one UNSUBSCRIBE for everything that changed meanwhile: a storm of joins
    is a few commands), `read` reads messages and confirmations. A channel released and held
    again before the commander ran is never unsubscribed. When the connection drops (an
    error, or the client's own silent reconnect inside a retry), a fresh pub/sub connection
    subscribes every held channel again, and once all are confirmed the reader gets a RESET:
    what it reads from the database then cannot miss anything published later."""

    def __init__(self, redis: Redis, maxsize: int) -> None:
        super().__init__(maxsize)
        self._redis = redis
        self._pubsub = redis.pubsub()
        self._sent: set[str] = set()  # subscribed on this connection, as far as commands go
        self._unconfirmed: dict[str, int] = {}  # SUBSCRIBEs sent, not yet confirmed
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._changed = asyncio.Event()
        self._up = False  # connected; the commander may send
        self._reset_due = False  # a RESET goes out once every held channel is confirmed
        self._connects = 0  # connections made by the current pub/sub's connection
        self._ever_up = False

    def _added(self, channel: str) -> None:
        self._changed.set()

    def _removed(self, channel: str) -> None:
        self._changed.set()

    async def live(self, channel: str) -> None:
        if not self._up or (channel in self._sent and channel not in self._unconfirmed):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(channel, []).append(waiter)
        self._changed.set()
        await waiter

    def _wake(self, channels: list[str] | None = None) -> None:
        for channel in list(self._waiting) if channels is None else channels:
            for waiter in self._waiting.pop(channel, ()):
                if not waiter.done():
                    waiter.set_result(None)

    def _confirmed(self, channel: str) -> None:
        left = self._unconfirmed.get(channel, 0) - 1
        if left > 0:
            self._unconfirmed[channel] = left
            return
        self._unconfirmed.pop(channel, None)
        self._wake([channel])
        self._maybe_reset()

    def _maybe_reset(self) -> None:
        if not self._reset_due or not self._up:
            return
        if all(c in self._sent and c not in self._unconfirmed for c in self._holders):
            self._reset_due = False
            self.reset()

    async def _on_connect(self, connection: object) -> None:
        self._connects += 1

    async def _connect(self) -> None:
        """A fresh pub/sub connection (the old one's subscriptions are unknown after a
        drop); the commander subscribes every held channel on it."""
        old, self._pubsub = self._pubsub, self._redis.pubsub()
        if old.connection is not None:
            with contextlib.suppress(ValueError):
                old.connection.deregister_connect_callback(self._on_connect)
        with contextlib.suppress(Exception):
            await old.aclose()  # type: ignore[no-untyped-call]
        self._sent.clear()
        self._unconfirmed.clear()
        await self._pubsub.connect()  # type: ignore[no-untyped-call]
        connection = self._pubsub.connection
        assert connection is not None
        self._connects = 0
        connection.register_connect_callback(self._on_connect)
        self._up = True
        # The first connection of a set that holds nothing yet has missed nothing.
        self._reset_due = self._ever_up or bool(self._holders)
        self._ever_up = True
        self._changed.set()
        self._maybe_reset()

    def _down(self) -> None:
        self._up = False
        self._wake()  # their RESET comes once the connection is back

    async def command(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if not self._up:
                continue
            pubsub, held = self._pubsub, self._holders
            add = [channel for channel in held if channel not in self._sent]
            drop = [channel for channel in self._sent if channel not in held]
            try:
                if drop:
                    self._sent.difference_update(drop)
                    for channel in drop:
                        self._unconfirmed.pop(channel, None)
                    await pubsub.unsubscribe(*drop)
                if add:
                    self._sent.update(add)
                    for channel in add:
                        self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
                    await pubsub.subscribe(*add)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # The reader starts again on a fresh connection (and resets): a subscription
                # left in doubt must not keep anyone waiting.
                logger.warning("broker (un)subscribe failed (%s); reconnecting", exc)
                self._down()
            self._wake([channel for channel in self._waiting if channel not in self._holders])

    async def read(self) -> None:
        delay = 0.05
        while True:
            try:
                if not self._up:
                    await self._connect()
                    delay = 0.05
                message = await self._pubsub.get_message(timeout=1.0)
                if self._connects:  # the client reconnected by itself within a retry
                    logger.warning("broker connection was re-established; resubscribing")
                    self._down()
                    continue
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if self._up:
                    logger.warning("broker connection lost (%s); reconnecting", exc)
                self._down()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except Exception as exc:
                logger.exception("broker subscription failed")
                self._down()
                self.fail(exc)
                return
            if message is None:
                continue
            kind = message.get("type")
            channel = message["channel"]
            name = channel.decode() if isinstance(channel, bytes) else str(channel)
            if kind == "message":
                self.deliver(BrokerEvent(channel=name, data=message["data"]))
            elif kind == "subscribe":
                self._confirmed(name)

    async def aclose(self) -> None:
        self._down()
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
