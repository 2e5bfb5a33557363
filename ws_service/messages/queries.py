"""SQL for chat messages: sequence numbers, inserts, history and ranges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Row, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Message, Room, User
from ws_service.connection.protocol import StoredMessage

ClientKey = tuple[str, int, str]  # room_id, user_id, client_id

_COLUMNS = (
    Message.room_id,
    Message.seq,
    Message.user_id,
    User.username,
    Message.content,
    Message.client_id,
    Message.created_at,
)


def _stored(row: Row[str, int, int | None, str, str, str | None, datetime]) -> StoredMessage:
    # Every read joins `users`, so a deleted account's tombstones are not among the rows.
    assert row.user_id is not None
    return StoredMessage(
        room_id=row.room_id,
        seq=row.seq,
        user_id=row.user_id,
        username=row.username,
        content=row.content,
        client_id=row.client_id,
        created_at=row.created_at,
    )


class RoomCounters(NamedTuple):
    last_seq: int  # the last sequence number handed out
    message_count: int  # `message` rows ever stored (events are not counted)
    last_message_seq: int  # the newest `message` row's seq; 0: none


async def lock_rooms(db: AsyncSession, *, room_ids: Iterable[str]) -> dict[str, RoomCounters]:
    """Locks the rooms' rows, in id order (so two instances' batches never deadlock), and
    reads their counters; they stay locked until the transaction ends, so no other
    transaction can take sequence numbers in these rooms before this one commits. Unknown
    rooms are missing from the answer. One round trip whatever the number of rooms."""
    rows = await db.execute(
        select(Room.id, Room.last_seq, Room.message_count, Room.last_message_seq)
        .where(Room.id.in_(sorted(room_ids)))
        .order_by(Room.id)
        .with_for_update()
    )
    return {row.id: RoomCounters(*row[1:]) for row in rows}


async def save_counters(db: AsyncSession, counters: Mapping[str, RoomCounters]) -> None:
    """Writes back the counters of rooms locked by `lock_rooms`: one executemany, which
    asyncpg sends as one pipeline (one round trip, not one per room)."""
    if not counters:
        return
    await db.execute(
        update(Room),
        [{"id": room_id, **values._asdict()} for room_id, values in counters.items()],
    )


async def insert_messages(db: AsyncSession, messages: Sequence[tuple[StoredMessage, int]]) -> None:
    """Inserts new messages, each with its `number` (the room's message count through it)."""
    if not messages:
        return
    await db.execute(
        insert(Message),
        [
            {
                "room_id": m.room_id,
                "seq": m.seq,
                "user_id": m.user_id,
                "content": m.content,
                "client_id": m.client_id,
                "created_at": m.created_at,
                "number": number,
            }
            for m, number in messages
        ],
    )


async def find_by_client_keys(
    db: AsyncSession, keys: Sequence[ClientKey]
) -> dict[ClientKey, StoredMessage]:
    """Messages already stored under these idempotency keys."""
    if not keys:
        return {}
    rows = await db.execute(
        select(*_COLUMNS)
        .join(User, User.id == Message.user_id)
        .where(tuple_(Message.room_id, Message.user_id, Message.client_id).in_(list(keys)))
    )
    found: dict[ClientKey, StoredMessage] = {}
    for row in rows:
        message = _stored(row)
        assert message.client_id is not None
        found[(message.room_id, message.user_id, message.client_id)] = message
    return found


async def history(
    db: AsyncSession, *, room_id: str, after: int, through: int, limit: int
) -> tuple[list[StoredMessage], bool]:
    """The newest `limit` messages with `after < seq <= through`, oldest first, and whether
    older ones in that range were left out."""
    rows = await db.execute(
        select(*_COLUMNS)
        .join(User, User.id == Message.user_id)
        .where(Message.room_id == room_id, Message.seq > after, Message.seq <= through)
        .order_by(Message.seq.desc())
        .limit(limit + 1)
    )
    newest_first = [_stored(row) for row in rows]
    truncated = len(newest_first) > limit
    return newest_first[:limit][::-1], truncated


async def message_range(
    db: AsyncSession, *, room_id: str, first: int, last: int | None, limit: int
) -> list[StoredMessage]:
    """Messages with `first <= seq <= last` (no upper bound when `last` is None), oldest
    first, at most `limit`."""
    query = (
        select(*_COLUMNS)
        .join(User, User.id == Message.user_id)
        .where(Message.room_id == room_id, Message.seq >= first)
        .order_by(Message.seq)
        .limit(limit)
    )
    if last is not None:
        query = query.where(Message.seq <= last)
    return [_stored(row) for row in await db.execute(query)]
