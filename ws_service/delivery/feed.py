"""The room channels this instance has a local interest in, read once and decoded once.

A room is of interest here while it has a room socket on this instance (the hub holds it
from `join` to `leave`) or a connected `/ws/events` stream of one of its members (the
events dispatcher holds it while the person watches it). The reference counts of both live
in one `ChannelSet`: the room's channel is subscribed when the first interest appears and
unsubscribed when the last goes, so an instance receives nothing of the rooms it does not
serve, and adding instances adds capacity.

The people channel (person events: reads, rooms added and removed, posts) rides the same
connection, held for as long as the feed runs, and comes to the consumers as a
`PeopleMessage` (left encoded: only the events dispatcher reads it, when someone is
connected). One connection keeps Redis's order between the two: a stored message and the
`read` event of a reader who saw it arrive in that order, so the reader's unread count does
not count it again.

One task reads the channels, decodes each broker message once and hands the decoded event
to every consumer, in order (the hub first, then the events dispatcher). A `FeedReset`
(the broker dropped events: a full queue, a Redis reconnect) reaches every consumer too; on
Redis it is sent only once every held room is subscribed again, so what a consumer then
reads from the database misses nothing published later.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType

from shared.broker import Broker, ChannelSet
from shared.people import people_channel
from shared.supervision import OnFailure, start_supervised
from shared.tasks import cancel_and_wait
from ws_service.messages.stream import StreamEvent, decode, room_channel

logger = logging.getLogger("gochat.ws.feed")


class FeedReset:
    """Events of any held room (or of the people channel) may have been missed."""


@dataclass(frozen=True, slots=True)
class PeopleMessage:
    """A message of the people channel, as it came."""

    data: bytes


FeedItem = StreamEvent | FeedReset | PeopleMessage
Consumer = Callable[[FeedItem], Awaitable[None]]


class RoomFeed:
    def __init__(
        self, *, broker: Broker, namespace: str, queue_size: int, on_failure: OnFailure
    ) -> None:
        self._broker = broker
        self._namespace = namespace
        self._queue_size = queue_size
        self._on_failure = on_failure
        self._people = people_channel(namespace)
        self._consumers: list[Consumer] = []
        self._channels: ChannelSet | None = None
        self._stack = AsyncExitStack()
        self._closed = True
        # For measurements and `/metrics`: broker messages received, and those of them
        # for a room without a local interest (left before it arrived: ~0 in steady state).
        self.received = 0
        self.unwanted = 0

    async def __aenter__(self) -> RoomFeed:
        try:
            self._channels = await self._stack.enter_async_context(
                self._broker.channel_set(maxsize=self._queue_size)
            )
        except BaseException:
            await self._stack.aclose()
            raise
        self._channels.hold(self._people)
        self._closed = False
        task = start_supervised(
            self._read(self._channels),
            "ws-room-feed",
            stopping=lambda: self._closed,
            on_failure=self._on_failure,
        )
        self._stack.push_async_callback(cancel_and_wait, task)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        await self._stack.aclose()

    def listen(self, consumer: Consumer) -> None:
        """`consumer` is handed every decoded event from now on (awaited: a consumer whose
        queue is full holds the feed back, and the broker's bounded queue resets)."""
        self._consumers.append(consumer)

    def hold(self, room_id: str) -> None:
        """One more local interest in the room; the first subscribes its channel."""
        if self._channels is not None:
            self._channels.hold(room_channel(self._namespace, room_id))

    def release(self, room_id: str) -> None:
        """One interest fewer; the last one unsubscribes the room's channel."""
        if self._channels is not None:
            self._channels.release(room_channel(self._namespace, room_id))

    async def live(self, room_id: str) -> None:
        """Returns once the held room's channel is subscribed (see `ChannelSet.live`)."""
        if self._channels is not None:
            await self._channels.live(room_channel(self._namespace, room_id))

    @property
    def rooms_held(self) -> int:
        return 0 if self._channels is None else len(self._channels.held) - 1

    async def _read(self, channels: ChannelSet) -> None:
        """Ends only by cancellation or with an exception (the broker gave up)."""
        async for event in channels:
            item: FeedItem | None
            if event.reset:
                item = FeedReset()
            elif event.channel == self._people:
                item = PeopleMessage(event.data)
            else:
                self.received += 1
                if not channels.holds(event.channel):
                    self.unwanted += 1
                    continue
                item = decode(event.data)
                if item is None:
                    logger.warning("ignored a malformed message on %s", event.channel)
                    continue
            for consumer in self._consumers:
                await consumer(item)
