"""Closing with 4401 the sockets whose session has ended, on every instance, apart from the hub.

Three ways a session's end reaches its sockets:
- the control channel: auth and user services publish `session_revoked` and `user_deleted`
  after their commit; the guard asks the hub and the people's event streams to close what
  they name (and, on the same channel, the rooms' kicks and bans: 4403 for that user in
  that room only, leaves: 4410, so that the leaver's other tabs stop rather than re-join,
  and `room_removed` on their event streams); a deleted user's messages are tombstones
  from then on, which the hub tells every open room (`account_gone`);
- a re-check of each new connection's session just after it registered with the hub: a
  logout committed during the handshake (after admission read the session, before the hub
  knew the socket) published its event to a hub that had nothing to close; a room socket's
  place in its room is re-checked in the same transaction (a kick, ban or leave committed
  during its handshake: closed with 4403);
- a periodic re-check of every open socket's session (`ws_session_check_seconds`), one query
  for all of them (`shared.sessions.live_session_ids`): tokens expire while their sockets
  are open, and an event may be lost (the control stream's reset triggers a re-check too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import Broker, Subscription
from shared.database import unit_of_work
from shared.events import AccountEvent, RoomRemovalEvent, RoomRemovalKind, control_channel
from shared.sessions import live_session_ids
from shared.supervision import OnFailure, start_supervised
from shared.tasks import cancel_and_wait
from ws_service.connection.close_codes import CLOSE_LEFT, CLOSE_REMOVED
from ws_service.delivery.hub import RoomHub
from ws_service.delivery.subscriber import Outlet, Subscriber
from ws_service.events.frames import RemovalReason
from ws_service.events.streams import EventStreams
from ws_service.rooms import queries as room_queries

# The close reason of a socket found shut out of its room just after it registered.
REMOVED = "removed from the room"
# How an event stream names each removal announced on the control channel.
REMOVAL_REASONS: dict[RoomRemovalKind, RemovalReason] = {
    "room_kick": "kick",
    "room_ban": "ban",
    "room_leave": "leave",
}

logger = logging.getLogger("gochat.ws.sessions")

RETRY_SECONDS = 1.0  # after a failed re-check of new connections


class SessionGuard:
    def __init__(
        self,
        *,
        broker: Broker,
        namespace: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        hub: RoomHub,
        events: EventStreams | None = None,
        queue_size: int,
        check_seconds: float,
        on_failure: OnFailure,
    ) -> None:
        self._broker = broker
        self._namespace = namespace
        self._sessionmaker = sessionmaker
        self._hub = hub
        self._events = events
        self._queue_size = queue_size
        self._check_seconds = check_seconds
        self._on_failure = on_failure
        self._new: set[uuid.UUID] = set()  # sessions of connections not re-checked yet
        # (room, user) of room sockets not re-checked yet: a kick, ban or leave committed
        # during their handshake was announced to a hub that did not know them yet.
        self._new_members: set[tuple[str, int]] = set()
        self._check_all = False
        self._wake = asyncio.Event()
        self._stack = AsyncExitStack()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = True

    async def __aenter__(self) -> SessionGuard:
        try:
            control = await self._stack.enter_async_context(
                self._broker.subscribe(control_channel(self._namespace), maxsize=self._queue_size)
            )
        except BaseException:
            await self._stack.aclose()
            raise
        self._stopping = False
        self._hub.on_registered(self.registered)
        if self._events is not None:
            self._events.on_registered(self.registered)
        self._tasks = [
            self._start(self._read_control(control), "ws-session-events"),
            self._start(self._recheck(), "ws-session-checks"),
        ]
        return self

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        return start_supervised(
            work, name, stopping=lambda: self._stopping, on_failure=self._on_failure
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping = True
        await cancel_and_wait(*self._tasks)
        await self._stack.aclose()

    def registered(self, client: Outlet) -> None:
        """A connection just registered: its session is re-checked (with the others that
        registered meanwhile, in one query)."""
        self._new.add(client.session_id)
        if isinstance(client, Subscriber):
            self._new_members.add((client.room_id, client.user_id))
        self._wake.set()

    async def _read_control(self, subscription: Subscription) -> None:
        async for event in subscription:
            if event.reset:
                logger.warning("the account events stream missed events; re-checking sessions")
                self._check_all = True
                self._wake.set()
                continue
            removal = RoomRemovalEvent.decode(event.data)
            if removal is not None:  # in that room only
                await self._hub.remove_member(
                    room_id=removal.room_id,
                    user_id=removal.user_id,
                    code=CLOSE_LEFT if removal.kind == "room_leave" else CLOSE_REMOVED,
                    reason=removal.reason,
                )
                if self._events is not None:
                    self._events.removed(
                        room_id=removal.room_id,
                        user_id=removal.user_id,
                        reason=REMOVAL_REASONS[removal.kind],
                    )
                continue
            account_event = AccountEvent.decode(event.data)
            if account_event is None:
                logger.warning("ignored a malformed account event")
            elif account_event.kind == "user_deleted":
                await self._end_sessions(user_id=account_event.user_id)
                # Their messages were erased in the same commit: open rooms show tombstones.
                await self._hub.account_gone(user_id=account_event.user_id)
            elif account_event.session_id is not None:
                await self._end_sessions(session_ids=frozenset({account_event.session_id}))

    async def _end_sessions(
        self, *, user_id: int | None = None, session_ids: frozenset[uuid.UUID] = frozenset()
    ) -> None:
        await self._hub.end_sessions(user_id=user_id, session_ids=session_ids)
        if self._events is not None:
            self._events.end_sessions(user_id=user_id, session_ids=session_ids)

    async def _recheck(self) -> None:
        loop = asyncio.get_running_loop()
        next_full = loop.time() + self._check_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_full - loop.time())):
                    await self._wake.wait()
            self._wake.clear()
            full = self._check_all or loop.time() >= next_full
            if full:
                next_full = loop.time() + self._check_seconds
                self._check_all = False
                sessions = self._hub.session_ids()
                if self._events is not None:
                    sessions |= self._events.session_ids()
            else:
                sessions = set(self._new)
            members, self._new_members = self._new_members, set()
            self._new.clear()
            if not sessions and not members:
                continue
            try:
                async with unit_of_work(self._sessionmaker) as db:
                    live = await live_session_ids(db, sessions)
                    refused = await room_queries.shut_out(db, pairs=members)
            except Exception as exc:
                logger.warning("re-checking %d sessions failed (%s); retrying", len(sessions), exc)
                if full:
                    self._check_all = True
                else:
                    self._new |= sessions
                self._new_members |= members
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
                continue
            for room_id, user_id in refused:
                await self._hub.remove_member(
                    room_id=room_id, user_id=user_id, code=CLOSE_REMOVED, reason=REMOVED
                )
            ended = frozenset(sessions - live)
            if ended:
                await self._end_sessions(session_ids=ended)
