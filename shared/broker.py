"""Publish/subscribe between processes: in process memory (the default, one instance) or Redis.

Both implementations keep the same promises, like encode/broadcaster's backends:
- `publish` never waits for subscribers; a subscriber reads from a bounded queue.
- Delivery is at most once. When a subscriber may have missed messages (its queue overflowed,
  or the Redis connection dropped and came back) it receives a `RESET` event in their place,
  so it can resynchronise from the database instead of silently losing messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
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


class Broker(ABC):
    @abstractmethod
    async def publish(self, channel: str, data: bytes) -> None: ...

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
            self._subscribers.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            for channel in channels:
                members = self._subscribers.get(channel)
                if members is not None:
                    members.discard(subscription)
                    if not members:
                        del self._subscribers[channel]


class RedisBroker(Broker):
    """Redis pub/sub. Each subscription has its own connection and a reader task that is
    cancelled and awaited when the subscription ends; it reconnects with backoff. A Redis
    that is not up yet does not stop a subscription: the reader subscribes when it can, and
    the subscriber gets a `RESET` then (what was published before is gone)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, channel: str, data: bytes) -> None:
        await self._redis.publish(channel, data)

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
