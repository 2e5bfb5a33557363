"""The room hub: the asyncio shell around `DeliveryState` (room_state.py), which decides.

One task owns the state and reads three bounded queues:
- registrations: a client joins a room; the hub answers its join point (history covers
  every message up to it, everything later comes live, so nothing is missed or repeated);
- departures: a client's connection has ended;
- events: what the room feed brings (stored messages, presence changes and typing of the
  rooms with a local interest here, from every instance, this one included), database
  reads landing, sessions to end.

It carries out the state's decisions: deliveries (each broadcast encoded once, written to
every member without awaiting any of them), gap timers, database reads, presence reads,
closes. Typing is delivered beside the sequence: never stored, never held behind a gap,
at most one per person per room per TYPING_INTERVAL_SECONDS (`typing`). Each room socket
holds its room's channel in the feed from `join` to `leave`; the first join of a room waits
for the subscription, then reads what was stored after its join point (`first_join`), so a
message published just before the subscription is not missed. Beside it runs the room
watcher, which every `ws_room_check_seconds` reads the
`last_seq` of the rooms with members here, so a message stored but never broadcast (its
publish gave up) still reaches them. Every task is supervised: one that dies calls
`on_failure`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import Broker
from shared.database import unit_of_work
from shared.supervision import OnFailure, start_supervised
from shared.tasks import cancel_and_wait
from ws_service.connection.close_codes import (
    CLOSE_SERVICE_RESTART,
    CLOSE_SESSION_ENDED,
)
from ws_service.connection.protocol import (
    StoredMessage,
    account_gone_frame,
    message_frame,
    presence_frame,
    typing_frame,
)
from ws_service.delivery.feed import FeedItem, FeedReset, PeopleMessage, RoomFeed
from ws_service.delivery.room_state import (
    AccountGone,
    Announce,
    Close,
    Decision,
    Deliver,
    DeliveryState,
    ReadPresence,
    ReadRange,
    ScheduleFill,
)
from ws_service.delivery.sinks import OutgoingFrames
from ws_service.delivery.subscriber import Subscriber
from ws_service.delivery.throttle import Throttle
from ws_service.messages import queries as message_queries
from ws_service.messages.stream import (
    PresenceChange,
    StoredBatch,
    TypingEvent,
    encode_typing,
    room_channel,
)
from ws_service.metrics import ChatMetrics
from ws_service.presence.base import Presence
from ws_service.rooms import queries as room_queries

logger = logging.getLogger("gochat.ws.hub")

# How long `join` waits for the hub before it gives up with HubClosed (a hub that is
# stopping, or has died, must not hang a handshake).
JOIN_TIMEOUT_SECONDS = 10.0
RETRY_PRESENCE_SECONDS = 1.0  # after a failed read of presence
TYPING_INTERVAL_SECONDS = 2.0  # at most one typing frame per person per room this often

State = DeliveryState[Subscriber, StoredMessage]
Decisions = list[Decision[Subscriber, StoredMessage]]


class HubClosed(Exception):
    """The hub is stopping (the instance is shutting down) or not answering."""


@dataclass(slots=True)
class _Registration:
    client: Subscriber
    stored_last_seq: int
    after: int | None
    done: asyncio.Future[int]


class _StreamReset:
    """The chat stream missed messages."""


class _PresenceLost:
    """A presence change may not have been announced."""


@dataclass(frozen=True, slots=True)
class _Landed:
    read: ReadRange
    messages: list[StoredMessage] | None  # None: the read failed


@dataclass(frozen=True, slots=True)
class _Heads:
    heads: dict[str, int]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    room_id: str
    epoch: int
    asked: int
    users: dict[int, str]


@dataclass(frozen=True, slots=True)
class _EndSessions:
    user_id: int | None
    session_ids: frozenset[uuid.UUID]


@dataclass(frozen=True, slots=True)
class _AccountGone:
    user_id: int


@dataclass(frozen=True, slots=True)
class _RemoveMember:
    room_id: str
    user_id: int
    code: int
    reason: str


_Event = (
    StoredBatch
    | PresenceChange
    | TypingEvent
    | _StreamReset
    | _PresenceLost
    | _Landed
    | _Heads
    | _Snapshot
    | _EndSessions
    | _RemoveMember
    | _AccountGone
)


class RoomHub:
    def __init__(
        self,
        *,
        broker: Broker,
        namespace: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        queue_size: int,
        gap_wait: float,
        room_check_seconds: float = 1.0,
        presence: Presence | None = None,
        presence_settle_seconds: float = 0.0,
        metrics: ChatMetrics | None = None,
        feed: RoomFeed | None = None,
        on_failure: OnFailure,
    ) -> None:
        """`feed`: the instance's room feed, shared with the events dispatcher; without
        one the hub opens its own."""
        self._broker = broker
        self._own_feed = feed is None
        self._feed = feed or RoomFeed(
            broker=broker, namespace=namespace, queue_size=queue_size, on_failure=on_failure
        )
        self._metrics = metrics or ChatMetrics(CollectorRegistry())
        self._namespace = namespace
        self._sessionmaker = sessionmaker
        self._queue_size = queue_size
        self._room_check_seconds = room_check_seconds
        self._presence = presence
        self._presence_settle = presence_settle_seconds
        self._on_failure = on_failure
        self._state: State = DeliveryState(gap_wait=gap_wait)
        self._registrations: asyncio.Queue[_Registration] = asyncio.Queue(queue_size)
        self._departures: asyncio.Queue[Subscriber] = asyncio.Queue(queue_size)
        self._events: asyncio.Queue[_Event] = asyncio.Queue(queue_size)
        self._wakeup = asyncio.Event()
        self._joining: set[asyncio.Future[int]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._helpers: set[asyncio.Task[None]] = set()
        self._closed = True
        self._registered: Callable[[Subscriber], None] | None = None
        self._repairing = False  # a presence repair is queued or running
        # Typing, throttled twice with the same rule: where it is sent from (one person's
        # sockets on this instance cost one publish per interval) and where it is delivered
        # (every instance sees every typing event, so each enforces the rule for its
        # members whatever instances the person types from; no shared state, no round trip).
        self._typing_sent: Throttle[tuple[str, int]] = Throttle(TYPING_INTERVAL_SECONDS)
        self._typing_shown: Throttle[tuple[str, int]] = Throttle(TYPING_INTERVAL_SECONDS)
        self.delivered = 0  # frames handed to clients, for measurements

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> RoomHub:
        if self._own_feed:
            await self._stack.enter_async_context(self._feed)
        self._feed.listen(self._from_feed)
        self._closed = False
        self._tasks = [
            self._start(self._run(), "ws-hub"),
            self._start(self._watch_rooms(), "ws-hub-rooms"),
        ]
        return self

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return start_supervised(
            work, name, stopping=lambda: self._closed, on_failure=self._on_failure
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close every connection with 1012 (clients reconnect to another instance), then
        cancel and await every task of the hub; a `join` still waiting gets HubClosed."""
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._apply(self._state.close_all(code=CLOSE_SERVICE_RESTART, reason="server restarting"))
        await cancel_and_wait(*self._tasks, *self._helpers)
        while not self._registrations.empty():  # wakes joins blocked on a full queue
            self._registrations.get_nowait()
        for done in self._joining:
            if not done.done():
                done.set_exception(HubClosed())
        await self._stack.aclose()

    # -- the connection handler's side and the account-events consumer's -------------------

    async def join(
        self, client: Subscriber, *, stored_last_seq: int, after: int | None = None
    ) -> int:
        """Adds the client to its room. Returns its join point: the last sequence number its
        history must cover (and `ready.last_id`); every later message reaches it live, once
        (queued until `client.go_live()`). `stored_last_seq` is the room's `last_seq` as read
        before the call; `after` the client's resume point, if it sent one: the join point
        is never below it (up to `stored_last_seq`), so the client gets nothing twice.
        HubClosed when the hub is stopping or does not answer within JOIN_TIMEOUT_SECONDS."""
        if self._closed:
            raise HubClosed
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        registration = _Registration(client, stored_last_seq, after, done)
        self._joining.add(done)  # stopping sets HubClosed on it
        self._feed.hold(client.room_id)  # released by `leave`, or below if this fails
        joined = False
        try:
            async with asyncio.timeout(JOIN_TIMEOUT_SECONDS):
                await self._feed.live(client.room_id)
                if not self._registrations.full():
                    self._registrations.put_nowait(registration)
                    self._wakeup.set()
                else:  # wait for room, or for the hub to stop
                    queued = asyncio.ensure_future(self._put(self._registrations, registration))
                    try:
                        await asyncio.wait((queued, done), return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        queued.cancel()
                join_point = await done
                joined = True
                return join_point
        except TimeoutError:
            raise HubClosed from None
        finally:
            self._joining.discard(done)
            done.cancel()  # the hub skips a registration whose future is done
            if not joined:
                self._feed.release(client.room_id)

    async def leave(self, client: Subscriber) -> None:
        """After a successful `join`: nothing more is sent to the client, and its hold on
        the room's channel is released."""
        try:
            if not self._closed:
                await self._put(self._departures, client)
        finally:
            self._feed.release(client.room_id)

    async def end_sessions(
        self, *, user_id: int | None = None, session_ids: frozenset[uuid.UUID] = frozenset()
    ) -> None:
        """Close with 4401 the connections of these sessions, or of every session of
        `user_id`."""
        if not self._closed:
            await self._put(self._events, _EndSessions(user_id, session_ids))

    async def remove_member(self, *, room_id: str, user_id: int, code: int, reason: str) -> None:
        """Close with `code` (4403 for a kick or ban, 4410 for a leave) and `reason` the
        connections of `user_id` in `room_id`."""
        if not self._closed:
            await self._put(self._events, _RemoveMember(room_id, user_id, code, reason))

    async def typing(self, client: Subscriber) -> None:
        """`client`'s person is typing in its room: announced to every instance, unless
        this instance did so for them less than TYPING_INTERVAL_SECONDS ago. Best effort:
        a publish that fails is dropped (the next keystroke says it again)."""
        now = asyncio.get_running_loop().time()
        if self._closed or not self._typing_sent.allow((client.room_id, client.user_id), now):
            return
        event = TypingEvent(
            room_id=client.room_id, user_id=client.user_id, username=client.username
        )
        try:
            await self._broker.publish(
                room_channel(self._namespace, client.room_id), encode_typing(event)
            )
        except Exception as exc:
            logger.debug("typing not published: %s", exc)

    async def account_gone(self, *, user_id: int) -> None:
        """`user_id`'s account was deleted: every room with members here gets an
        `account_gone` frame (clients turn that user's messages into tombstones)."""
        if not self._closed:
            await self._put(self._events, _AccountGone(user_id))

    def session_ids(self) -> set[uuid.UUID]:
        """The sessions with a connection here now."""
        return self._state.session_ids()

    def on_registered(self, callback: Callable[[Subscriber], None]) -> None:
        """`callback(client)` after each registration (the account-events consumer re-checks
        the new connection's session: a logout during the handshake is not missed)."""
        self._registered = callback

    def repair_presence(self) -> None:
        """A presence change may not have reached the stream: check every room (once, if
        asked again while a check is pending)."""
        if not self._closed and not self._repairing:
            self._repairing = True
            self._post_nowait(_PresenceLost())

    @property
    def connections(self) -> int:
        return self._state.connections

    async def _put(self, queue: asyncio.Queue[Any], item: object) -> None:
        await queue.put(item)
        self._wakeup.set()

    def _post_nowait(self, event: _Event) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:  # the hub is far behind: a reset covers whatever this was
            self._spawn(self._put(self._events, event))
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

    def _guarded(self, handle: Callable[[Any], None], item: object) -> None:
        try:
            handle(item)
        except Exception:  # a bug must not stop every room of the instance
            logger.exception("hub failed to handle %r", type(item).__name__)

    def _register(self, registration: _Registration) -> None:
        if registration.done.done():  # the connection went away while waiting
            return
        client = registration.client
        first = not self._state.members_of(client.room_id)
        join_point, decisions = self._state.register(
            client, stored_last_seq=registration.stored_last_seq, after=registration.after
        )
        registration.done.set_result(join_point)
        self._apply(decisions)
        if first:
            self._apply(self._state.first_join(client.room_id))
        if self._registered is not None:
            self._registered(client)

    def _depart(self, client: Subscriber) -> None:
        self._apply(self._state.leave(client))

    def _on_event(self, event: _Event) -> None:
        state = self._state
        if isinstance(event, StoredBatch):
            started = time.perf_counter()
            self._apply(state.arrived(event.messages))
            self._metrics.broadcast_seconds.observe(time.perf_counter() - started)
        elif isinstance(event, PresenceChange):
            self._apply(
                state.presence(
                    event.kind,
                    room_id=event.room_id,
                    user_id=event.user_id,
                    username=event.username,
                )
            )
        elif isinstance(event, TypingEvent):
            self._show_typing(event)
        elif isinstance(event, _Landed):
            if event.messages is None:
                self._apply(state.fill_failed(event.read))
            else:
                self._apply(state.fill_landed(event.read, event.messages))
        elif isinstance(event, _Heads):
            self._apply(state.stored_heads(event.heads))
        elif isinstance(event, _Snapshot):
            self._apply(
                state.presence_snapshot(event.room_id, event.epoch, event.asked, event.users)
            )
        elif isinstance(event, _EndSessions):
            self._apply(
                state.end_sessions(
                    user_id=event.user_id,
                    session_ids=event.session_ids,
                    code=CLOSE_SESSION_ENDED,
                    reason="session ended",
                )
            )
        elif isinstance(event, _RemoveMember):
            self._apply(
                state.remove_member(
                    room_id=event.room_id,
                    user_id=event.user_id,
                    code=event.code,
                    reason=event.reason,
                )
            )
        elif isinstance(event, _AccountGone):
            self._apply(state.account_gone(event.user_id))
        elif isinstance(event, _StreamReset):
            logger.warning("the chat stream missed messages; reading them from the database")
            self._apply(state.stream_reset(), resync_presence=True)
        elif isinstance(event, _PresenceLost):
            decisions = state.presence_lost()
            if not decisions:  # no rooms here: nothing to read
                self._repairing = False
            self._apply(decisions, resync_presence=True)

    def _show_typing(self, event: TypingEvent) -> None:
        """To the room's members here but the typist's own sockets; outside the sequence."""
        members = self._state.members_of(event.room_id)
        if not members:
            return
        now = asyncio.get_running_loop().time()
        if not self._typing_shown.allow((event.room_id, event.user_id), now):
            return
        frames = OutgoingFrames(
            typing_frame(room_id=event.room_id, user_id=event.user_id, username=event.username)
        )
        for client in members:
            if client.user_id != event.user_id:
                client.deliver(frames)
                self.delivered += 1

    # -- carrying out decisions ------------------------------------------------------------

    def _apply(self, decisions: Decisions, *, resync_presence: bool = False) -> None:
        for decision in decisions:
            if isinstance(decision, Deliver):
                self._deliver(decision)
            elif isinstance(decision, Announce):
                frames = OutgoingFrames(
                    presence_frame(
                        decision.kind,
                        room_id=decision.room_id,
                        user_id=decision.user_id,
                        username=decision.username,
                    )
                )
                for client in decision.members:
                    client.deliver(frames)
                self.delivered += len(decision.members)
            elif isinstance(decision, AccountGone):
                gone = OutgoingFrames(
                    account_gone_frame(room_id=decision.room_id, user_id=decision.user_id)
                )
                for client in decision.members:
                    client.deliver(gone)
                self.delivered += len(decision.members)
            elif isinstance(decision, ScheduleFill):
                self._schedule(decision)
            elif isinstance(decision, ReadRange):
                self._spawn(self._read_range(decision))
            elif isinstance(decision, ReadPresence):
                self._spawn(self._read_presence(decision, resync=resync_presence))
            elif isinstance(decision, Close):
                for client in decision.members:
                    client.close(decision.code, decision.reason)

    def _deliver(self, decision: Deliver[Subscriber, StoredMessage]) -> None:
        """Encoded once; each member gets the batch in one write (the few that resumed
        ahead of this instance get the part they lack)."""
        payloads = [message_frame(message) for message in decision.messages]
        frames = OutgoingFrames(*payloads)
        skip = decision.skip
        members = decision.members
        if not skip:
            for client in members:
                client.deliver(frames)
            self.delivered += len(members) * len(payloads)
            return
        for client in members:
            skipped = skip.get(client, 0)
            if skipped == 0:
                client.deliver(frames)
            elif skipped < len(payloads):
                client.deliver(OutgoingFrames(*payloads[skipped:]))
            self.delivered += len(payloads) - skipped

    def _schedule(self, decision: ScheduleFill) -> None:
        if self._closed:
            return

        def due() -> None:
            self._timers.discard(handle)
            if not self._closed:
                self._apply(self._state.fill_due(decision.room_id, decision.epoch))

        handle = asyncio.get_running_loop().call_later(decision.delay, due)
        self._timers.add(handle)

    async def _read_range(self, read: ReadRange) -> None:
        try:
            async with unit_of_work(self._sessionmaker) as db:
                rows: list[StoredMessage] | None = await message_queries.message_range(
                    db, room_id=read.room_id, first=read.first, last=read.last, limit=read.limit
                )
        except Exception as exc:
            logger.warning("reading room %s from seq %d failed: %s", read.room_id, read.first, exc)
            rows = None
        await self._put(self._events, _Landed(read, rows))

    async def _read_presence(self, read: ReadPresence, *, resync: bool) -> None:
        presence = self._presence
        if presence is None:
            return
        try:
            if resync:
                # After a reset (maybe a Redis restart) the record may have lost entries:
                # this instance's are written back first, and the others get a moment.
                await presence.resync()
                await asyncio.sleep(self._presence_settle)
            for room_id, epoch, asked in read.rooms:
                users = await presence.members(room_id)
                snapshot = {user.user_id: user.username for user in users}
                await self._put(self._events, _Snapshot(room_id, epoch, asked, snapshot))
        except Exception as exc:
            logger.warning("reading presence failed (%s); retrying shortly", exc)
            await asyncio.sleep(RETRY_PRESENCE_SECONDS)
            self._repairing = False
            self.repair_presence()  # one retry, however many asked meanwhile
            return
        if resync:
            self._repairing = False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name="ws-hub-helper")
        self._helpers.add(task)
        task.add_done_callback(self._helper_done)

    def _helper_done(self, task: asyncio.Task[None]) -> None:
        self._helpers.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("hub helper failed", exc_info=task.exception())

    # -- the feed's consumer and the room watcher ------------------------------------------

    async def _from_feed(self, item: FeedItem) -> None:
        if isinstance(item, PeopleMessage):
            return  # the events dispatcher's
        await self._put(self._events, _StreamReset() if isinstance(item, FeedReset) else item)

    async def _watch_rooms(self) -> None:
        """One query for all rooms with members here, every `room_check_seconds`."""
        while True:
            await asyncio.sleep(self._room_check_seconds)
            room_ids = self._state.room_ids()
            if not room_ids:
                continue
            try:
                async with unit_of_work(self._sessionmaker) as db:
                    heads: Mapping[str, int] = await room_queries.last_seqs(db, room_ids=room_ids)
            except Exception as exc:
                logger.warning("reading the rooms' last sequence numbers failed: %s", exc)
                continue
            await self._put(self._events, _Heads(dict(heads)))
