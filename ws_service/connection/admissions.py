"""Admitting the sockets of concurrent handshakes together: a storm of handshakes (a
reconnect after an instance died, the bench opening 10,000 sockets) costs a few statements
per batch, not five round trips per socket.

Guarantees:
- Each handshake gets what `rooms.service.admit_many` decides for it alone: its user, its
  `Admission`, or its own refusal (401/403/404); a database failure fails the whole batch
  (503 through the outage handler, as before).
- A first join is committed before the handshake is admitted (one INSERT ... ON CONFLICT DO
  NOTHING for the batch's first joins).
- One batch at a time: handshakes that arrive while one is at the database form the next
  (at most BATCH_MAX each), so a lone handshake waits for no one and a storm is batched by
  itself, as the message store's group commit is.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.database import unit_of_work
from shared.errors import ServiceUnavailable
from shared.sessions import SessionUser
from shared.tasks import cancel_and_wait
from shared.tokens import TokenClaims
from ws_service.rooms.service import Admission, Handshake, admit_many, make_members

logger = logging.getLogger("gochat.ws.admissions")

# Handshakes per batch: bounds the arrays (PostgreSQL) or IN lists (SQLite) of its reads.
BATCH_MAX = 200
STOPPING = "the service is stopping"

Outcome = Admission | SessionUser


class Admissions:
    """Owned by the chat's lifespan: its batch task is cancelled and awaited on the way out,
    and handshakes still waiting are refused with 503."""

    def __init__(
        self,
        *,
        reader: async_sessionmaker[AsyncSession],
        writer: async_sessionmaker[AsyncSession],
    ) -> None:
        self._reader = reader  # no transaction needed (see `admit_many`)
        self._writer = writer
        self._waiting: list[tuple[Handshake, asyncio.Future[Outcome]]] = []
        self._batches: asyncio.Task[None] | None = None
        self._open = False

    async def __aenter__(self) -> Admissions:
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        await cancel_and_wait(self._batches)
        self._refuse_waiting()

    async def person(self, claims: TokenClaims) -> SessionUser:
        """The user of a live session (401 otherwise): a `/ws/events` handshake."""
        outcome = await self._admit((claims, None))
        assert isinstance(outcome, SessionUser)
        return outcome

    async def room(self, claims: TokenClaims, *, room_id: str) -> Admission:
        """A room socket's admission (401, 403, 404 otherwise); a first join committed."""
        outcome = await self._admit((claims, room_id))
        assert isinstance(outcome, Admission)
        return outcome

    async def _admit(self, handshake: Handshake) -> Outcome:
        if not self._open:
            raise ServiceUnavailable(STOPPING)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((handshake, future))
        if self._batches is None:
            self._batches = asyncio.create_task(self._run_batches(), name="ws-admissions")
        return await future

    async def _run_batches(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:BATCH_MAX]
                del self._waiting[:BATCH_MAX]
                try:
                    outcomes = await self._decide([handshake for handshake, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch:
                        _settle(future, ServiceUnavailable(STOPPING))
                    raise
                except Exception as exc:  # the database failed: every handshake of the batch
                    logger.warning("admitting %d handshakes failed: %r", len(batch), exc)
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    _settle(future, outcome)
        finally:
            self._batches = None

    async def _decide(self, handshakes: list[Handshake]) -> list[Outcome | Exception]:
        async with unit_of_work(self._reader) as db:
            outcomes = await admit_many(db, handshakes=handshakes)
        first_joins = [o for o in outcomes if isinstance(o, Admission) and o.joined is not None]
        if first_joins:
            async with unit_of_work(self._writer) as db:
                await make_members(db, admissions=first_joins)
        return list(outcomes)

    def _refuse_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for _, future in waiting:
            _settle(future, ServiceUnavailable(STOPPING))


def _settle(future: asyncio.Future[Outcome], outcome: Outcome | BaseException) -> None:
    """A handshake given up meanwhile (its client left: its future is cancelled) is skipped."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
