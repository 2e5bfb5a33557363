"""The room hub: which clients are in which room on this instance, and what they are sent.

One task owns the room map and reads three bounded queues:
- registrations: a client joins a room; the hub answers the sequence number up to which the
  client is sent history, everything after it comes live, so nothing is missed or repeated;
- departures: a client's connection has ended;
- events: what the broker brings (stored messages and presence changes from every instance,
  this one included; account events) and gap fills read from the database.

Every instance delivers from the broker's stream, so every instance delivers the same
messages in the same order: per room, strictly increasing sequence numbers with no gaps.
Messages that arrive early are held back; a gap that does not close by itself within
`gap_wait` seconds, or a reset of the stream (messages missed), is filled from the database.
Each broadcast is encoded once for all members and never waits for any of them.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import Broker, Subscription
from shared.database import unit_of_work
from shared.events import AccountEvent, control_channel
from shared.sessions import live_session_ids
from shared.tasks import cancel_and_wait
from ws_service.connection.close_codes import CLOSE_SERVICE_RESTART, CLOSE_SESSION_ENDED
from ws_service.connection.protocol import encode, message_fields, presence_frame
from ws_service.delivery.sequencing import RoomSequence
from ws_service.delivery.sinks import OutgoingFrames
from ws_service.delivery.subscriber import Subscriber
from ws_service.messages import queries as message_queries
from ws_service.messages.stream import PresenceChange, StoredBatch, chat_channel, decode
from ws_service.metrics import ChatMetrics

logger = logging.getLogger("gochat.ws.hub")

FILL_LIMIT = 500  # messages read from the database per gap fill (one event)
RECENT_ROOMS = 4096  # rooms without members whose last sequence number is remembered
RETRY_FILL_SECONDS = 1.0
# Messages held back behind a gap, per room, before they are dropped and read again from
# the database (which holds every one of them) once it answers.
MAX_HELD = 2 * FILL_LIMIT

MessageFields = dict[str, Any]


class HubClosed(Exception):
    """The hub is stopping: the instance is shutting down."""


class _Reset(enum.Enum):
    STREAM = "the chat stream missed messages"
    CONTROL = "the account events stream missed events"


@dataclass(slots=True)
class _Registration:
    client: Subscriber
    stored_last_seq: int
    done: asyncio.Future[int]


class _Room:
    __slots__ = ("catch_up", "fill_running", "fill_timer", "id", "members", "sequence")

    def __init__(self, room_id: str, next_seq: int) -> None:
        self.id = room_id
        self.members: set[Subscriber] = set()
        self.sequence: RoomSequence[MessageFields] = RoomSequence(next_seq)
        self.fill_timer: asyncio.TimerHandle | None = None
        self.fill_running = False
        self.catch_up = False  # read everything after next_seq, not just a known gap


@dataclass(frozen=True, slots=True)
class _Fill:
    """What the database holds for a room from `first` through `through`."""

    room: _Room
    messages: list[tuple[int, MessageFields]]
    through: int
    more: bool  # stopped at FILL_LIMIT: read on
    failed: bool


@dataclass(frozen=True, slots=True)
class _SessionsEnded:
    session_ids: frozenset[uuid.UUID]


_Event = StoredBatch | PresenceChange | AccountEvent | _Fill | _SessionsEnded | _Reset


class RoomHub:
    def __init__(
        self,
        *,
        broker: Broker,
        namespace: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        queue_size: int,
        gap_wait: float,
        metrics: ChatMetrics | None = None,
    ) -> None:
        self._broker = broker
        self._metrics = metrics or ChatMetrics(CollectorRegistry())
        self._namespace = namespace
        self._sessionmaker = sessionmaker
        self._queue_size = queue_size
        self._gap_wait = gap_wait
        self._registrations: asyncio.Queue[_Registration] = asyncio.Queue(queue_size)
        self._departures: asyncio.Queue[Subscriber] = asyncio.Queue(queue_size)
        self._events: asyncio.Queue[_Event] = asyncio.Queue(queue_size)
        self._wakeup = asyncio.Event()
        self._rooms: dict[str, _Room] = {}
        self._by_user: dict[int, set[Subscriber]] = {}
        # Last sequence number seen in rooms without members here: a client joining one
        # is sent as history what went by just before it registered.
        self._recent: dict[str, int] = {}
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._helpers: set[asyncio.Task[None]] = set()
        self._closed = True
        self.delivered = 0  # frames handed to clients, for measurements

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> RoomHub:
        try:
            stream = await self._stack.enter_async_context(
                self._broker.subscribe(chat_channel(self._namespace), maxsize=self._queue_size)
            )
            control = await self._stack.enter_async_context(
                self._broker.subscribe(control_channel(self._namespace), maxsize=self._queue_size)
            )
        except BaseException:
            await self._stack.aclose()
            raise
        self._closed = False
        self._tasks = [
            asyncio.create_task(self._run(), name="ws-hub"),
            asyncio.create_task(self._pump_stream(stream), name="ws-hub-stream"),
            asyncio.create_task(self._pump_control(control), name="ws-hub-control"),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close every connection with 1012 (clients reconnect to another instance), then
        cancel and await every task of the hub."""
        self._closed = True
        for room in self._rooms.values():
            if room.fill_timer is not None:
                room.fill_timer.cancel()
            for client in room.members:
                client.close(CLOSE_SERVICE_RESTART, "server restarting")
        await cancel_and_wait(*self._tasks, *self._helpers)
        while not self._registrations.empty():
            registration = self._registrations.get_nowait()
            if not registration.done.done():
                registration.done.set_exception(HubClosed())
        await self._stack.aclose()

    # -- the connection handler's side -----------------------------------------------------

    async def join(self, client: Subscriber, *, stored_last_seq: int) -> int:
        """Adds the client to its room. Returns the last sequence number its history must
        cover: every later message reaches it live (queued until `client.go_live()`).
        `stored_last_seq` is the room's `last_seq` as read before the call."""
        if self._closed:
            raise HubClosed
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await self._put(self._registrations, _Registration(client, stored_last_seq, done))
        return await done

    async def leave(self, client: Subscriber) -> None:
        if self._closed:
            return
        await self._put(self._departures, client)

    @property
    def connections(self) -> int:
        return sum(len(room.members) for room in self._rooms.values())

    async def _put(self, queue: asyncio.Queue[Any], item: object) -> None:
        await queue.put(item)
        self._wakeup.set()

    # -- the hub task ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._turn():
                await asyncio.sleep(0)  # let the connections run between turns
            else:
                self._wakeup.clear()  # nothing queued: nobody ran since the queues were read
                await self._wakeup.wait()

    def _turn(self) -> int:
        """Departures first (nothing more is sent to them), then registrations, then one
        event: between two stored batches, other tasks (readers, client writers, the message
        writer) get the loop back, so a client receives at most one batch at a time.
        Returns how many items were handled."""
        handled = 0
        while not self._departures.empty():
            self._guarded(self._depart, self._departures.get_nowait())
            handled += 1
        while not self._registrations.empty():
            self._guarded(self._register, self._registrations.get_nowait())
            handled += 1
        if not self._events.empty():
            self._guarded(self._on_event, self._events.get_nowait())
            handled += 1
        return handled

    def _guarded(self, handle: Any, item: object) -> None:
        try:
            handle(item)
        except Exception:  # a bug must not stop every room of the instance
            logger.exception("hub failed to handle %r", type(item).__name__)

    def _register(self, registration: _Registration) -> None:
        if registration.done.done():  # the connection went away while waiting
            return
        client = registration.client
        room = self._rooms.get(client.room_id)
        if room is None:
            last = max(registration.stored_last_seq, self._recent.pop(client.room_id, 0))
            room = self._rooms[client.room_id] = _Room(client.room_id, last + 1)
        elif registration.stored_last_seq >= room.sequence.next_seq:
            # Stored, not yet seen here: wait for the stream briefly, then read them.
            room.sequence.expect(registration.stored_last_seq)
            self._schedule_fill(room)
        room.members.add(client)
        self._by_user.setdefault(client.user_id, set()).add(client)
        registration.done.set_result(room.sequence.next_seq - 1)

    def _depart(self, client: Subscriber) -> None:
        room = self._rooms.get(client.room_id)
        if room is not None:
            room.members.discard(client)
            if not room.members:
                self._drop_room(room)
        clients = self._by_user.get(client.user_id)
        if clients is not None:
            clients.discard(client)
            if not clients:
                del self._by_user[client.user_id]

    def _drop_room(self, room: _Room) -> None:
        if room.fill_timer is not None:
            room.fill_timer.cancel()
        del self._rooms[room.id]
        self._remember(room.id, room.sequence.last_known)

    def _remember(self, room_id: str, seq: int) -> None:
        recent = self._recent
        seq = max(seq, recent.pop(room_id, 0))
        recent[room_id] = seq
        if len(recent) > RECENT_ROOMS:
            del recent[next(iter(recent))]

    def _on_event(self, event: _Event) -> None:
        if isinstance(event, StoredBatch):
            started = time.perf_counter()
            self._on_stored(event)
            self._metrics.broadcast_seconds.observe(time.perf_counter() - started)
        elif isinstance(event, PresenceChange):
            room = self._rooms.get(event.room_id)
            if room is not None:
                self._broadcast(
                    room,
                    presence_frame(
                        event.kind,
                        room_id=event.room_id,
                        user_id=event.user_id,
                        username=event.username,
                    ),
                )
        elif isinstance(event, _Fill):
            self._on_fill(event)
        elif isinstance(event, AccountEvent):
            self._end_sessions(
                event.user_id, None if event.kind == "user_deleted" else event.session_id
            )
        elif isinstance(event, _SessionsEnded):
            for clients in list(self._by_user.values()):
                for client in list(clients):
                    if client.session_id in event.session_ids:
                        client.close(CLOSE_SESSION_ENDED, "session ended")
        elif event is _Reset.STREAM:
            logger.warning("%s; reading them from the database", event.value)
            for room in self._rooms.values():
                room.catch_up = True
                self._schedule_fill(room, delay=0)
        elif event is _Reset.CONTROL:
            logger.warning("%s; checking every connected session", event.value)
            sessions = {c.session_id for clients in self._by_user.values() for c in clients}
            self._spawn(self._check_sessions(sessions))

    def _on_stored(self, batch: StoredBatch) -> None:
        """Each room's released messages go to each member in one write."""
        released: dict[str, list[bytes]] = {}
        for fields in batch.messages:
            room = self._rooms.get(fields["room_id"])
            if room is None:
                self._remember(fields["room_id"], fields["id"])
                continue
            for message in room.sequence.offer(fields["id"], fields):
                released.setdefault(room.id, []).append(encode(message))
        for room_id, payloads in released.items():
            self._broadcast(self._rooms[room_id], *payloads)
        for fields in batch.messages:
            room = self._rooms.get(fields["room_id"])
            if room is None or room.sequence.missing is None:
                continue
            if room.sequence.held > MAX_HELD:
                room.sequence.drop_held()
                room.catch_up = True
            self._schedule_fill(room)

    def _broadcast(self, room: _Room, *payloads: bytes) -> None:
        frames = OutgoingFrames(*payloads)
        for client in room.members:
            client.deliver(frames)
        self.delivered += len(room.members) * len(payloads)

    def _end_sessions(self, user_id: int, session_id: uuid.UUID | None) -> None:
        """Close a user's connections (`session_id` None: all of them) with 4401."""
        for client in list(self._by_user.get(user_id, ())):
            if session_id is None or client.session_id == session_id:
                client.close(CLOSE_SESSION_ENDED, "session ended")

    # -- gap fills -------------------------------------------------------------------------

    def _schedule_fill(self, room: _Room, delay: float | None = None) -> None:
        if room.fill_timer is not None or room.fill_running or self._closed:
            return
        wait = self._gap_wait if delay is None else delay
        room.fill_timer = asyncio.get_running_loop().call_later(wait, self._start_fill, room)

    def _start_fill(self, room: _Room) -> None:
        room.fill_timer = None
        if self._closed or self._rooms.get(room.id) is not room:
            return
        missing = room.sequence.missing
        if missing is None and not room.catch_up:
            return  # the stream closed the gap meanwhile
        last = None if room.catch_up or missing is None else missing[1]
        room.catch_up = False
        room.fill_running = True
        self._spawn(self._fill(room, room.sequence.next_seq, last))

    async def _fill(self, room: _Room, first: int, last: int | None) -> None:
        try:
            async with unit_of_work(self._sessionmaker) as db:
                rows = await message_queries.message_range(
                    db, room_id=room.id, first=first, last=last, limit=FILL_LIMIT
                )
        except Exception as exc:
            logger.warning("reading room %s from seq %d failed: %s", room.id, first, exc)
            fill = _Fill(room, [], through=first - 1, more=False, failed=True)
        else:
            more = len(rows) == FILL_LIMIT
            through = (rows[-1].seq if rows else first - 1) if more or last is None else last
            fields = [(m.seq, message_fields(m)) for m in rows]
            fill = _Fill(room, fields, through=through, more=more, failed=False)
        await self._put(self._events, fill)

    def _on_fill(self, fill: _Fill) -> None:
        room = fill.room
        room.fill_running = False
        if self._rooms.get(room.id) is not room:
            return  # everyone left meanwhile
        released = room.sequence.fill(fill.messages, through=fill.through)
        if released:
            self._broadcast(room, *map(encode, released))
        if fill.failed or fill.more:
            room.catch_up = True
            self._schedule_fill(room, delay=RETRY_FILL_SECONDS if fill.failed else 0)
        elif room.sequence.missing is not None:
            self._schedule_fill(room)

    async def _check_sessions(self, session_ids: set[uuid.UUID]) -> None:
        async with unit_of_work(self._sessionmaker) as db:
            live = await live_session_ids(db, session_ids)
        if session_ids - live:
            await self._put(self._events, _SessionsEnded(frozenset(session_ids - live)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="ws-hub-helper")
        self._helpers.add(task)
        task.add_done_callback(self._helper_done)

    def _helper_done(self, task: asyncio.Task[None]) -> None:
        self._helpers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("hub helper failed", exc_info=task.exception())

    # -- broker pumps ----------------------------------------------------------------------

    async def _pump_stream(self, subscription: Subscription) -> None:
        async for event in subscription:
            item = _Reset.STREAM if event.reset else decode(event.data)
            if item is None:
                logger.warning("ignored a malformed chat stream message")
                continue
            await self._put(self._events, item)

    async def _pump_control(self, subscription: Subscription) -> None:
        async for event in subscription:
            item = _Reset.CONTROL if event.reset else AccountEvent.decode(event.data)
            if item is not None:
                await self._put(self._events, item)
