"""SQL for chat messages: sequence numbers, inserts, history and ranges."""

from __future__ import annotations

from collections.abc import Sequence
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


class Numbered(NamedTuple):
    last_seq: int  # the last sequence number handed out
    message_count: int  # the room's message count with the new messages


async def bump_last_seq(db: AsyncSession, *, room_id: str, count: int) -> Numbered | None:
    """Hands out `count` sequence numbers for `count` new messages, counting them in the
    room's `message_count`; the row stays locked until the transaction ends, so no other
    transaction can take numbers in this room before this one commits. None for an unknown
    room."""
    row = (
        await db.execute(
            update(Room)
            .where(Room.id == room_id)
            .values(
                last_seq=Room.last_seq + count,
                message_count=Room.message_count + count,
                last_message_seq=Room.last_seq + count,
            )
            .returning(Room.last_seq, Room.message_count)
        )
    ).one_or_none()
    return None if row is None else Numbered(row.last_seq, row.message_count)


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
