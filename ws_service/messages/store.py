"""Storing chat messages (group commit), then publishing them to every instance.

Guarantees:
- A message is committed, with its per-room sequence number, before anyone is sent it.
- Sequence numbers are gapless and increase in commit order in each room: they are handed
  out by bumping `rooms.last_seq` in the same transaction as the insert (the row lock makes
  other writers of that room wait for the commit).
- Messages that arrive while a commit is in flight share the next transaction (one writer
  task, one transaction per batch): the database's flush rate bounds commits, not messages.
  Within a batch each room's messages keep their arrival order.
- A `client_id` already used by the same user in the same room is not stored again; the
  caller gets the original message back, marked as a duplicate.
- Each batch is published on the chat channel after its commit, in sequence order.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import Broker
from shared.database import unit_of_work
from shared.models import utcnow
from shared.tasks import cancel_and_wait
from ws_service.connection.protocol import StoredMessage
from ws_service.messages import queries as message_queries
from ws_service.messages.stream import encode_stored

logger = logging.getLogger("gochat.ws.store")

# How long a stored batch keeps trying to reach the broker (a Redis restart takes a moment)
# before it is left to history and gap filling. Meanwhile later batches wait: order holds.
PUBLISH_PATIENCE_SECONDS = 5.0
NOT_STORED = "the message could not be stored; try again"


class StoreUnavailable(Exception):
    """The message was not stored: the database failed, or the service is stopping."""


@dataclass(frozen=True, slots=True)
class Appended:
    message: StoredMessage
    duplicate: bool  # stored earlier under the same client_id; this is the original


@dataclass(slots=True)
class _Pending:
    room_id: str
    user_id: int
    username: str
    content: str
    client_id: str | None
    done: asyncio.Future[Appended]

    @property
    def key(self) -> message_queries.ClientKey | None:
        return (self.room_id, self.user_id, self.client_id) if self.client_id else None


Outcome = Appended | StoreUnavailable


class MessageStore:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        broker: Broker,
        channel: str,
        *,
        queue_size: int,
        batch_max: int,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._broker = broker
        self._channel = channel
        self._batch_max = batch_max
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(queue_size)
        self._in_flight: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self.commits = 0  # transactions committed, for measurements

    async def __aenter__(self) -> MessageStore:
        self._writer = asyncio.create_task(self._write(), name="ws-message-writer")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        writer, self._writer = self._writer, None
        await cancel_and_wait(writer)
        stopping = StoreUnavailable("the service is stopping")
        for pending in self._in_flight:
            _settle(pending, stopping)
        while not self._queue.empty():
            _settle(self._queue.get_nowait(), stopping)

    async def submit(
        self, *, room_id: str, user_id: int, username: str, content: str, client_id: str | None
    ) -> asyncio.Future[Appended]:
        """Queues the message (waiting only while the queue is full). The future is settled
        once it is committed and published, or found stored already (`StoreUnavailable`
        otherwise); one caller's messages are stored in the order submitted."""
        if self._writer is None:
            raise StoreUnavailable("the service is stopping")
        done: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(room_id, user_id, username, content, client_id, done))
        return done

    async def append(
        self, *, room_id: str, user_id: int, username: str, content: str, client_id: str | None
    ) -> Appended:
        """`submit`, then wait for the outcome."""
        done = await self.submit(
            room_id=room_id,
            user_id=user_id,
            username=username,
            content=content,
            client_id=client_id,
        )
        return await done

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._in_flight = batch
            try:
                outcomes, stored = await self._commit(batch)
            except Exception:
                logger.exception("storing %d messages failed", len(batch))
                outcomes = [StoreUnavailable(NOT_STORED) for _ in batch]
                stored = []
            if stored:
                await self._publish(stored)
            for pending, outcome in zip(batch, outcomes, strict=True):
                _settle(pending, outcome)
            self._in_flight = []

    async def _commit(self, batch: list[_Pending]) -> tuple[list[Outcome], list[StoredMessage]]:
        try:
            return await self._commit_once(batch)
        except IntegrityError:
            # Another instance stored one of these client_ids meanwhile (the retry finds its
            # row and answers with it), or a sender was deleted: retry each message alone,
            # so only the one at fault fails.
            pass
        outcomes: list[Outcome] = []
        stored: list[StoredMessage] = []
        for pending in batch:
            try:
                (outcome,), one = await self._commit_once([pending])
            except IntegrityError:
                outcome, one = StoreUnavailable(NOT_STORED), []
            outcomes.append(outcome)
            stored.extend(one)
        return outcomes, stored

    async def _commit_once(
        self, batch: list[_Pending]
    ) -> tuple[list[Outcome], list[StoredMessage]]:
        async with unit_of_work(self._sessionmaker) as db:
            outcomes, stored = await _store_batch(db, batch)
        self.commits += 1
        return outcomes, stored

    async def _publish(self, stored: list[StoredMessage]) -> None:
        data = encode_stored(stored)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PUBLISH_PATIENCE_SECONDS
        delay = 0.05
        while True:
            try:
                await self._broker.publish(self._channel, data)
                return
            except Exception:
                if loop.time() + delay > deadline:
                    # Stored but not broadcast: clients get them from history on reconnect,
                    # and hubs fill the gap when the room's next message arrives.
                    logger.exception("publishing %d stored messages failed", len(stored))
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)


async def _store_batch(
    db: AsyncSession, batch: list[_Pending]
) -> tuple[list[Outcome], list[StoredMessage]]:
    """One transaction's work: find repeats, number the new messages room by room (rooms in
    id order, so two instances lock them in the same order), insert them."""
    keys = [key for pending in batch if (key := pending.key) is not None]
    earlier = await message_queries.find_by_client_keys(db, keys)
    outcomes: list[Outcome | None] = [None] * len(batch)
    first_with_key: dict[message_queries.ClientKey, int] = {}
    repeats: list[tuple[int, int]] = []  # (index, index of the first with its key)
    new_by_room: dict[str, list[int]] = {}
    for index, pending in enumerate(batch):
        key = pending.key
        if key is not None and key in earlier:
            outcomes[index] = Appended(earlier[key], duplicate=True)
        elif key is not None and key in first_with_key:
            repeats.append((index, first_with_key[key]))
        else:
            if key is not None:
                first_with_key[key] = index
            new_by_room.setdefault(pending.room_id, []).append(index)

    created_at = utcnow()
    stored: list[StoredMessage] = []
    for room_id in sorted(new_by_room):
        indexes = new_by_room[room_id]
        last = await message_queries.bump_last_seq(db, room_id=room_id, count=len(indexes))
        if last is None:
            for index in indexes:
                outcomes[index] = StoreUnavailable("the room does not exist")
            continue
        for seq, index in enumerate(indexes, start=last - len(indexes) + 1):
            pending = batch[index]
            message = StoredMessage(
                room_id=room_id,
                seq=seq,
                user_id=pending.user_id,
                username=pending.username,
                content=pending.content,
                client_id=pending.client_id,
                created_at=created_at,
            )
            outcomes[index] = Appended(message, duplicate=False)
            stored.append(message)
    await message_queries.insert_messages(db, stored)

    for index, first in repeats:
        original = outcomes[first]
        outcomes[index] = (
            Appended(original.message, duplicate=True)
            if isinstance(original, Appended)
            else original
        )
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None], stored


def _settle(pending: _Pending, outcome: Outcome) -> None:
    if pending.done.done():  # its sender went away
        return
    if isinstance(outcome, Appended):
        pending.done.set_result(outcome)
    else:
        pending.done.set_exception(outcome)
