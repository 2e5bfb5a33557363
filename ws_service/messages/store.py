"""Storing chat messages (group commit), then publishing them to every instance.

Guarantees:
- A message is committed, with its per-room sequence number, before anyone is sent it.
- Sequence numbers are gapless and increase in commit order in each room: they are handed
  out by bumping `rooms.last_seq` in the same transaction as the insert (the row lock makes
  other writers of that room wait for the commit).
- Messages that arrive while a commit is in flight share the next transaction (one writer
  task, one transaction per batch): the database's flush rate bounds commits, not messages.
  Within a batch each room's messages keep their arrival order.
- One message the database refuses fails alone: a batch that fails for any reason but an
  outage is committed again in halves, down to the message at fault, so every other message
  of that batch (other rooms, other senders) is stored and answered.
- A committed message is always answered as stored and published: a failure after a commit
  (a later half, an outage, shutdown) never turns it into "try again".
- A `client_id` already used by the same user in the same room is not stored again; the
  caller gets the original message back, marked as a duplicate.
- An edit or a deletion is a row of the room's sequence too (kind "edit"/"delete", the
  next seq, `target_seq` set), stored in the same transaction that changes its target and
  published with the messages: refused (`EventRefused`) unless its target is a message
  that is not deleted and the sender may act on it. It is counted in `rooms.last_seq`
  only; its `number` is the room's message count at its place.
- Each batch is published after its commit, on each of its rooms' channels (one broker
  message per room, every room of the batch in one round trip), in sequence order. A batch
  the broker refused for `PUBLISH_PATIENCE_SECONDS` is carried into the next publish (and
  retried while the writer is idle), so no committed message is left unpublished for good
  while the process lives.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.availability import outage_of
from shared.broker import Broker
from shared.database import on_postgresql, unit_of_work
from shared.models import utcnow
from shared.supervision import OnFailure
from shared.tasks import cancel_and_wait
from ws_service.connection.protocol import PostedEvent, StoredMessage
from ws_service.messages import queries as message_queries
from ws_service.messages.stream import stored_by_room

logger = logging.getLogger("gochat.ws.store")

# How long a stored batch keeps trying to reach the broker (a Redis restart takes a moment)
# before its senders are answered anyway and it is carried into the next publish. Meanwhile
# later batches wait: order holds.
PUBLISH_PATIENCE_SECONDS = 5.0
# While messages wait to be published again, the idle writer tries once this often.
REPUBLISH_EVERY_SECONDS = 1.0
# Most stored messages carried from publish to publish; beyond it the oldest are left to
# history and to the hubs' own check of each room's last_seq (logged).
CARRY_MAX = 5000
# At shutdown, how long a batch already taken from the queue may take to commit, publish and
# be answered before the writer is cancelled anyway.
SHUTDOWN_GRACE_SECONDS = 10.0
NOT_STORED = "the message could not be stored; try again"
STOPPING = "the service is stopping"
WRITER_NAME = "ws-message-writer"
WRITER_GONE = "the message writer stopped; try again"


def _log_failure(name: str, exc: BaseException | None) -> None:
    logger.critical("%s ended while the store was open", name, exc_info=exc or None)


class StoreUnavailable(Exception):
    """The message was not stored: the database failed, or the service is stopping."""


class EventRefused(Exception):
    """An edit or deletion not stored: `not_found` (no such message, or it is deleted) or
    `forbidden` (not the sender's message, and for a deletion no moderating role)."""

    def __init__(self, code: Literal["not_found", "forbidden"], detail: str) -> None:
        super().__init__(detail)
        self.code: Literal["not_found", "forbidden"] = code
        self.detail = detail


NO_SUCH_MESSAGE = "no such message (or it was deleted)"
NOT_YOURS_TO_EDIT = "only its author may edit a message"
NOT_YOURS_TO_DELETE = "only its author or the room's owner or moderators may delete a message"


@dataclass(frozen=True, slots=True)
class Appended:
    message: StoredMessage  # for an edit or deletion: the event
    duplicate: bool  # stored earlier under the same client_id; this is the original
    # An edit's target in its new state (None for messages and deletions).
    target: StoredMessage | None = None


Outcome = Appended | StoreUnavailable | EventRefused


@dataclass(slots=True)
class _Pending:
    room_id: str
    user_id: int
    username: str
    content: str
    client_id: str | None
    done: asyncio.Future[Appended]
    event: PostedEvent | None = None  # an edit or deletion instead of a message
    # Set once known for certain: after its commit, or once it can no longer be committed.
    outcome: Outcome | None = field(default=None)

    @property
    def key(self) -> message_queries.ClientKey | None:
        return (self.room_id, self.user_id, self.client_id) if self.client_id else None


class MessageStore:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        broker: Broker,
        namespace: str,
        *,
        queue_size: int,
        batch_max: int,
        on_failure: OnFailure = _log_failure,
    ) -> None:
        """`on_failure` hears of a writer that ended early (its senders are answered
        `StoreUnavailable` and new messages refused): the supervisor's, in the service.
        Stored messages are published on `namespace`'s room channels."""
        self._sessionmaker = sessionmaker
        self._broker = broker
        self._namespace = namespace
        self._batch_max = batch_max
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(queue_size)
        self._in_flight: list[_Pending] = []
        self._unpublished: list[StoredMessage] = []  # committed, refused by the broker so far
        self._writer: asyncio.Task[None] | None = None
        self._refusal: str | None = STOPPING  # why new messages are refused; None: open
        self._on_failure = on_failure
        self.commits = 0  # transactions committed, for measurements

    async def __aenter__(self) -> MessageStore:
        self._refusal = None
        self._writer = asyncio.create_task(self._write(), name=WRITER_NAME)
        self._writer.add_done_callback(self._writer_ended)
        return self

    def _writer_ended(self, writer: asyncio.Task[None]) -> None:
        if writer is not self._writer:
            return  # stopped by __aexit__
        self._writer = None
        self._refusal = WRITER_GONE
        self._fail_waiting(StoreUnavailable(WRITER_GONE))
        self._on_failure(WRITER_NAME, None if writer.cancelled() else writer.exception())

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """New messages are refused at once; a batch already taken may be committed, so it is
        let finish (bounded by `SHUTDOWN_GRACE_SECONDS`) and answered; what still waits in the
        queue was never tried and is answered "stopping" (safe to send again)."""
        self._refusal = STOPPING
        writer, self._writer = self._writer, None
        if writer is not None and self._in_flight:
            await asyncio.wait([writer], timeout=SHUTDOWN_GRACE_SECONDS)
        await cancel_and_wait(writer)
        self._fail_waiting(StoreUnavailable(STOPPING))

    async def submit(
        self, *, room_id: str, user_id: int, username: str, content: str, client_id: str | None
    ) -> asyncio.Future[Appended]:
        """Queues the message (waiting only while the queue is full). The future is settled
        once it is committed and published (or the broker gave up), or found stored already;
        `StoreUnavailable` when it was not stored. One caller's messages are stored in the
        order submitted."""
        return await self._enqueue(_Pending(room_id, user_id, username, content, client_id, _new()))

    async def submit_event(
        self, *, room_id: str, user_id: int, username: str, event: PostedEvent
    ) -> asyncio.Future[Appended]:
        """Queues an edit or deletion, as `submit`; its future fails with `EventRefused`
        when it may not be done. Stored in order with the sender's messages."""
        pending = _Pending(room_id, user_id, username, event.content or "", None, _new(), event)
        return await self._enqueue(pending)

    async def _enqueue(self, pending: _Pending) -> asyncio.Future[Appended]:
        if self._refusal is not None:
            raise StoreUnavailable(self._refusal)
        done = pending.done
        await self._queue.put(pending)
        if self._refusal is not None:  # stopped (or died) while it waited for room
            _settle(pending, StoreUnavailable(self._refusal))
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

    async def append_event(
        self, *, room_id: str, user_id: int, username: str, event: PostedEvent
    ) -> Appended:
        """`submit_event`, then wait for the outcome."""
        done = await self.submit_event(
            room_id=room_id, user_id=user_id, username=username, event=event
        )
        return await done

    def _fail_waiting(self, failure: StoreUnavailable) -> None:
        """Answers every message not yet answered: those of a batch cut short (unless
        committed: those are answered as stored) and those still queued."""
        for pending in self._in_flight:
            _settle(pending, pending.outcome or failure)
        self._in_flight = []
        while not self._queue.empty():
            _settle(self._queue.get_nowait(), failure)

    async def _write(self) -> None:
        while self._refusal is None:
            batch = await self._next_batch()
            if batch:
                await self._store(batch)
            elif self._unpublished:
                await self._publish([], patience=0)

    async def _next_batch(self) -> list[_Pending]:
        """The messages queued now (at least one, at most `batch_max`); empty when nothing
        came within `REPUBLISH_EVERY_SECONDS` while messages wait to be published again."""
        try:
            async with asyncio.timeout(REPUBLISH_EVERY_SECONDS if self._unpublished else None):
                first = await self._queue.get()
        except TimeoutError:
            return []
        self._in_flight = batch = [first]  # from here on, shutdown answers them
        while len(batch) < self._batch_max and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _store(self, batch: list[_Pending]) -> None:
        try:
            stored = await self._commit(batch)
            if stored or self._unpublished:
                await self._publish(stored, patience=PUBLISH_PATIENCE_SECONDS)
        finally:  # cancelled at shutdown: committed messages are still answered as stored
            for pending in batch:
                _settle(pending, pending.outcome or StoreUnavailable(STOPPING))
            self._in_flight = []

    async def _commit(self, batch: list[_Pending]) -> list[StoredMessage]:
        """Commits `batch`, setting each message's outcome. A failure that is not an outage
        is narrowed down by halves (earlier half first, so each room keeps arrival order):
        one bad message costs about log2(len(batch)) extra commits and fails alone. An
        outage fails what is not committed yet, never what is."""
        stored: list[StoredMessage] = []
        parts = [batch]
        retried: set[int] = set()  # ids of messages tried alone again after an IntegrityError
        while parts:
            part = parts.pop(0)
            try:
                stored.extend(await self._commit_once(part))
            except Exception as exc:
                if outage_of(exc) is not None:
                    rest = [pending for each in [part, *parts] for pending in each]
                    logger.exception("storing %d messages failed", len(rest))
                    for pending in rest:
                        pending.outcome = StoreUnavailable(NOT_STORED)
                    break
                if len(part) > 1:
                    half = len(part) // 2
                    parts[:0] = [part[:half], part[half:]]
                elif isinstance(exc, IntegrityError) and id(part[0]) not in retried:
                    # Another instance stored this client_id meanwhile: the retry finds its
                    # row and answers with it.
                    retried.add(id(part[0]))
                    parts.insert(0, part)
                else:  # the message at fault
                    logger.warning("a message to room %s was refused: %s", part[0].room_id, exc)
                    part[0].outcome = StoreUnavailable(NOT_STORED)
        return stored

    async def _commit_once(self, batch: list[_Pending]) -> list[StoredMessage]:
        async with unit_of_work(self._sessionmaker) as db:
            outcomes, stored = await _store_batch(db, batch)
        self.commits += 1
        for pending, outcome in zip(batch, outcomes, strict=True):
            pending.outcome = outcome
        return stored

    async def _publish(self, stored: list[StoredMessage], *, patience: float) -> None:
        """Publishes what earlier publishes could not deliver, then `stored`: one broker
        message per room (in sequence order), all in one round trip. Tries for `patience`
        seconds; then keeps them for the next publish (a retry may repeat rooms that went
        through: receivers ignore a sequence number they have)."""
        messages = self._unpublished + stored
        data = stored_by_room(self._namespace, messages)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        delay = 0.05
        while True:
            try:
                await self._broker.publish_many(data)
            except Exception as exc:
                if loop.time() + delay <= deadline:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                if not self._unpublished:  # once per outage, not once per attempt
                    logger.warning(
                        "publishing %d stored messages failed (%s); carried into the next publish",
                        len(messages),
                        exc,
                    )
                self._keep_unpublished(messages)
                return
            if self._unpublished:
                logger.info("published %d stored messages that had waited", len(messages))
            self._unpublished = []
            return

    def _keep_unpublished(self, messages: list[StoredMessage]) -> None:
        dropped = len(messages) - CARRY_MAX
        if dropped > 0:
            # Still stored: clients get them from history, hubs by checking last_seq.
            logger.error("%d stored messages will not be published", dropped)
            messages = messages[dropped:]
        self._unpublished = messages


async def _store_batch(
    db: AsyncSession, batch: list[_Pending]
) -> tuple[list[Outcome], list[StoredMessage]]:
    """One transaction's work, in a few round trips whatever the number of rooms: find
    repeats, lock the rooms (in id order) and read their counters, carry out the edits and
    deletions (refusing those that may not be done: a round trip or two each), number the
    new rows, write the counters back, insert the rows. On PostgreSQL a batch without edits
    or deletions locks, numbers, writes and inserts in one statement, on its own (no BEGIN
    or COMMIT): one round trip, or two when it has `client_id`s to look up."""
    at_once = on_postgresql(db) and all(pending.event is None for pending in batch)
    if at_once:
        await db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
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
    numbers: list[int] = []
    targets: dict[int, StoredMessage] = {}
    if at_once:
        # Already written: the counters come back as they were before, to number alike.
        counters = await message_queries.append_messages(
            db,
            {
                room_id: [
                    message_queries.NewRow(batch[i].user_id, batch[i].content, batch[i].client_id)
                    for i in indexes
                ]
                for room_id, indexes in new_by_room.items()
            },
            created_at=created_at,
        )
    else:
        counters = await message_queries.lock_rooms(db, room_ids=new_by_room)
        # Under the rooms' locks: no other batch acts on these rooms' messages meanwhile.
        if any(pending.event is not None for pending in batch):
            targets = await _apply_events(db, batch, outcomes, at=created_at)
    for room_id, all_indexes in new_by_room.items():
        indexes = [index for index in all_indexes if outcomes[index] is None]
        room = counters.get(room_id)
        if room is None:
            for index in indexes:
                outcomes[index] = StoreUnavailable("the room does not exist")
            continue
        count, last_message_seq = room.message_count, room.last_message_seq
        for offset, index in enumerate(indexes, start=1):
            pending = batch[index]
            event = pending.event
            seq = room.last_seq + offset
            if event is None:  # events take a seq but are not counted as messages
                count += 1
                last_message_seq = seq
            message = StoredMessage(
                room_id=room_id,
                seq=seq,
                user_id=pending.user_id,
                username=pending.username,
                content=pending.content,
                client_id=pending.client_id,
                created_at=created_at,
                kind="message" if event is None else event.kind,
                target=None if event is None else event.target,
            )
            outcomes[index] = Appended(message, duplicate=False, target=targets.get(index))
            stored.append(message)
            numbers.append(count)
        counters[room_id] = message_queries.RoomCounters(
            last_seq=room.last_seq + len(indexes),
            message_count=count,
            last_message_seq=last_message_seq,
        )
    if not at_once:
        await message_queries.write_batch(db, counters, list(zip(stored, numbers, strict=True)))

    for index, first in repeats:
        original = outcomes[first]
        outcomes[index] = (
            Appended(original.message, duplicate=True)
            if isinstance(original, Appended)
            else original
        )
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None], stored


async def _apply_events(
    db: AsyncSession, batch: list[_Pending], outcomes: list[Outcome | None], *, at: datetime
) -> dict[int, StoredMessage]:
    """Changes the targets of the batch's edits and deletions (their rooms already locked;
    in (room, target) order, stable, so two events on one target keep their arrival order)
    and sets a refusal as the outcome of each that may not be done. Returns each edit's
    target in its new state, by index."""
    targets: dict[int, StoredMessage] = {}
    events = [(index, p, p.event) for index, p in enumerate(batch) if p.event is not None]
    for index, pending, event in sorted(events, key=lambda item: (item[1].room_id, item[2].target)):
        room_id, seq, user_id = pending.room_id, event.target, pending.user_id
        if event.kind == "edit":
            edited = await message_queries.edit_message(
                db, room_id=room_id, seq=seq, user_id=user_id, content=pending.content, at=at
            )
            if edited is not None:
                targets[index] = replace(edited, username=pending.username)
                continue
        elif await message_queries.delete_message(db, room_id=room_id, seq=seq, user_id=user_id):
            continue
        if not await message_queries.is_live_message(db, room_id=room_id, seq=seq):
            outcomes[index] = EventRefused("not_found", NO_SUCH_MESSAGE)
        else:
            denied = NOT_YOURS_TO_EDIT if event.kind == "edit" else NOT_YOURS_TO_DELETE
            outcomes[index] = EventRefused("forbidden", denied)
    return targets


def _new() -> asyncio.Future[Appended]:
    return asyncio.get_running_loop().create_future()


def _settle(pending: _Pending, outcome: Outcome) -> None:
    if pending.done.done():  # its sender went away
        return
    if isinstance(outcome, Appended):
        pending.done.set_result(outcome)
    else:
        pending.done.set_exception(outcome)
