"""SQL for chat messages: sequence numbers, inserts, edits and deletions, history, ranges
and scrollback.

Every read joins `users` with an OUTER join: a deleted account's messages stay as
tombstones (content erased, author NULL) and are read like any other row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.database import on_postgresql
from shared.models import Message, Room, RoomMember, User, UTCDateTime, utcnow
from ws_service.connection.protocol import RowKind, StoredMessage

ClientKey = tuple[str, int, str]  # room_id, user_id, client_id
MODERATING_ROLES = ("owner", "moderator")

_target = aliased(Message, name="target")


def _columns(content: ColumnElement[str] | Any) -> tuple[Any, ...]:
    return (
        Message.room_id,
        Message.seq,
        Message.user_id,
        User.username,
        content,
        Message.client_id,
        Message.created_at,
        Message.kind,
        Message.target_seq,
        Message.edited_at,
        Message.deleted,
    )


def _messages() -> Select[Any]:
    """kind='message' rows (and their authors, if any) only."""
    return (
        select(*_columns(Message.content))
        .outerjoin(User, User.id == Message.user_id)
        .where(Message.kind == "message")
    )


def _rows() -> Select[Any]:
    """Messages and events. An edit row stores no content: it carries its target's current
    content ("" once that message is deleted), read through the primary key."""
    content = case((Message.kind == "edit", _target.content), else_=Message.content).label(
        "content"
    )
    return (
        select(*_columns(content))
        .outerjoin(User, User.id == Message.user_id)
        .outerjoin(
            _target,
            and_(
                Message.kind == "edit",
                _target.room_id == Message.room_id,
                _target.seq == Message.target_seq,
            ),
        )
    )


def _stored(row: Any) -> StoredMessage:
    kind: RowKind = row.kind
    return StoredMessage(
        room_id=row.room_id,
        seq=row.seq,
        user_id=row.user_id,
        username=row.username,
        content=row.content or "",
        client_id=row.client_id,
        created_at=row.created_at,
        kind=kind,
        target=row.target_seq,
        edited_at=row.edited_at,
        deleted=bool(row.deleted),
    )


class RoomCounters(NamedTuple):
    last_seq: int  # the last sequence number handed out
    message_count: int  # `message` rows ever stored (events are not counted)
    last_message_seq: int  # the newest `message` row's seq; 0: none


# On PostgreSQL a batch's rows travel as a few arrays in one statement each: the same
# prepared statement whatever the batch's size (an expanding IN is a new statement per size,
# prepared again), and one Bind/Execute instead of one per row (a third of the writer's CPU
# at 1,500 msg/s in 300 rooms went to the per-row executemany and ORM bulk bookkeeping).
# SQLite, in process, keeps the portable forms.
_LOCK_ROOMS_PG = (
    select(Room.id, Room.last_seq, Room.message_count, Room.last_message_seq)
    .where(Room.id == any_(bindparam("ids", type_=ARRAY(String))))
    .order_by(Room.id)
    .with_for_update()
)

# The counters' UPDATE rides in the INSERT as a data-modifying CTE: one round trip for both.
_WRITE_BATCH_PG = text(
    "WITH counters AS ("
    " UPDATE rooms SET last_seq = v.last_seq, message_count = v.message_count,"
    " last_message_seq = v.last_message_seq"
    " FROM unnest(CAST(:ids AS varchar[]), CAST(:last_seqs AS bigint[]),"
    " CAST(:message_counts AS bigint[]), CAST(:last_message_seqs AS bigint[]))"
    " AS v(id, last_seq, message_count, last_message_seq)"
    " WHERE rooms.id = v.id)"
    " INSERT INTO messages (room_id, seq, user_id, content, client_id, created_at, number,"
    " kind, target_seq)"
    " SELECT v.room_id, v.seq, v.user_id, v.content, v.client_id, :created_at, v.number,"
    " v.kind, v.target_seq"
    " FROM unnest(CAST(:room_ids AS varchar[]), CAST(:seqs AS bigint[]),"
    " CAST(:user_ids AS bigint[]), CAST(:contents AS text[]), CAST(:client_ids AS varchar[]),"
    " CAST(:numbers AS bigint[]), CAST(:kinds AS varchar[]), CAST(:targets AS bigint[]))"
    " AS v(room_id, seq, user_id, content, client_id, number, kind, target_seq)"
).bindparams(bindparam("created_at", type_=UTCDateTime))

# A batch of new messages only (no edit or deletion) in one statement, run on its own
# (autocommit): the rooms locked in id order, their counters bumped, the rows inserted with
# `before + position` as seq and number, and the counters as they were returned for the
# caller's numbering. The UPDATE takes each room's values from `locked`, the row as locked
# (the newest committed version), not from its own snapshot. BEGIN, the lock, the write and
# COMMIT were four round trips, the writer's largest cost in many small rooms.
_APPEND_MESSAGES_PG = text(
    "WITH wanted AS ("
    " SELECT * FROM unnest(CAST(:ids AS varchar[]), CAST(:counts AS bigint[])) AS w(id, n)),"
    " locked AS ("
    " SELECT id, last_seq, message_count, last_message_seq FROM rooms"
    " WHERE id = ANY(CAST(:ids AS varchar[])) ORDER BY id FOR UPDATE),"
    " bumped AS ("
    " UPDATE rooms SET last_seq = l.last_seq + w.n, message_count = l.message_count + w.n,"
    " last_message_seq = l.last_seq + w.n"
    " FROM locked AS l JOIN wanted AS w ON w.id = l.id WHERE rooms.id = l.id"
    " RETURNING l.id, l.last_seq, l.message_count, l.last_message_seq),"
    " inserted AS ("
    " INSERT INTO messages (room_id, seq, user_id, content, client_id, created_at, number,"
    " kind, target_seq)"
    " SELECT v.room_id, b.last_seq + v.position, v.user_id, v.content, v.client_id,"
    " :created_at, b.message_count + v.position, 'message', NULL"
    " FROM unnest(CAST(:room_ids AS varchar[]), CAST(:positions AS bigint[]),"
    " CAST(:user_ids AS bigint[]), CAST(:contents AS text[]), CAST(:client_ids AS varchar[]))"
    " AS v(room_id, position, user_id, content, client_id)"
    " JOIN bumped AS b ON b.id = v.room_id)"
    " SELECT id, last_seq, message_count, last_message_seq FROM bumped"
).bindparams(bindparam("created_at", type_=UTCDateTime))

_client_keys = (
    func.unnest(
        bindparam("rooms", type_=ARRAY(String)),
        bindparam("users", type_=ARRAY(BigInteger)),
        bindparam("client_ids", type_=ARRAY(String)),
    )
    .table_valued("room_id", "user_id", "client_id")
    .render_derived(name="keys")
)
# `client_id IS NOT NULL` spelled out: the unique index on the keys is partial.
_FIND_BY_CLIENT_KEYS_PG = _messages().where(
    Message.client_id.is_not(None),
    tuple_(Message.room_id, Message.user_id, Message.client_id).in_(
        select(_client_keys.c.room_id, _client_keys.c.user_id, _client_keys.c.client_id)
    ),
)


async def lock_rooms(db: AsyncSession, *, room_ids: Iterable[str]) -> dict[str, RoomCounters]:
    """Locks the rooms' rows, in id order (so two instances' batches never deadlock), and
    reads their counters; they stay locked until the transaction ends, so no other
    transaction can take sequence numbers in these rooms before this one commits. Unknown
    rooms are missing from the answer. One round trip whatever the number of rooms."""
    ids = sorted(room_ids)
    if on_postgresql(db):
        rows = await db.execute(_LOCK_ROOMS_PG, {"ids": ids})
    else:
        rows = await db.execute(
            select(Room.id, Room.last_seq, Room.message_count, Room.last_message_seq)
            .where(Room.id.in_(ids))
            .order_by(Room.id)
            .with_for_update()
        )
    return {row[0]: RoomCounters(row[1], row[2], row[3]) for row in rows}


class NewRow(NamedTuple):
    user_id: int
    content: str
    client_id: str | None


async def append_messages(
    db: AsyncSession, rows: Mapping[str, Sequence[NewRow]], *, created_at: datetime
) -> dict[str, RoomCounters]:
    """PostgreSQL only: stores each room's `rows` (in order) after its last message, in one
    statement, and answers each room's counters from before them, so the caller numbers
    them exactly as the statement did (seq `last_seq + position`, number `message_count +
    position`, from 1). Unknown rooms are missing from the answer and none of their rows is
    stored."""
    if not rows:
        return {}
    ids = sorted(rows)
    flat = [
        (room_id, position, row) for room_id in ids for position, row in enumerate(rows[room_id], 1)
    ]
    result = await db.execute(
        _APPEND_MESSAGES_PG,
        {
            "ids": ids,
            "counts": [len(rows[room_id]) for room_id in ids],
            "room_ids": [room_id for room_id, _, _ in flat],
            "positions": [position for _, position, _ in flat],
            "user_ids": [row.user_id for _, _, row in flat],
            "contents": [row.content for _, _, row in flat],
            "client_ids": [row.client_id for _, _, row in flat],
            "created_at": created_at,
        },
    )
    return {row[0]: RoomCounters(row[1], row[2], row[3]) for row in result}


async def write_batch(
    db: AsyncSession,
    counters: Mapping[str, RoomCounters],
    messages: Sequence[tuple[StoredMessage, int]],
) -> None:
    """Writes back the counters of rooms locked by `lock_rooms` and inserts the new rows,
    each with its `number` (the room's message count through it); the rows of one batch
    share their `created_at`. An edit's content lives in its target only (so a deletion
    erases it everywhere at once). One statement on PostgreSQL (where a batch of new messages
    only takes `append_messages` instead); an executemany each elsewhere."""
    if not counters and not messages:
        return
    if on_postgresql(db):
        await db.execute(
            _WRITE_BATCH_PG,
            {
                "ids": list(counters),
                "last_seqs": [c.last_seq for c in counters.values()],
                "message_counts": [c.message_count for c in counters.values()],
                "last_message_seqs": [c.last_message_seq for c in counters.values()],
                "room_ids": [m.room_id for m, _ in messages],
                "seqs": [m.seq for m, _ in messages],
                "user_ids": [m.user_id for m, _ in messages],
                "contents": [m.content if m.kind == "message" else "" for m, _ in messages],
                "client_ids": [m.client_id for m, _ in messages],
                "numbers": [number for _, number in messages],
                "kinds": [m.kind for m, _ in messages],
                "targets": [m.target for m, _ in messages],
                "created_at": messages[0][0].created_at if messages else utcnow(),
            },
        )
        return
    if counters:
        await db.execute(
            update(Room),
            [{"id": room_id, **values._asdict()} for room_id, values in counters.items()],
        )
    if messages:
        await db.execute(
            insert(Message),
            [
                {
                    "room_id": m.room_id,
                    "seq": m.seq,
                    "user_id": m.user_id,
                    "content": m.content if m.kind == "message" else "",
                    "client_id": m.client_id,
                    "created_at": m.created_at,
                    "number": number,
                    "kind": m.kind,
                    "target_seq": m.target,
                }
                for m, number in messages
            ],
        )


def _live_target(room_id: str, seq: int) -> tuple[ColumnElement[bool], ...]:
    return (
        Message.room_id == room_id,
        Message.seq == seq,
        Message.kind == "message",
        Message.deleted.is_(False),
    )


async def edit_message(
    db: AsyncSession, *, room_id: str, seq: int, user_id: int, content: str, at: datetime
) -> StoredMessage | None:
    """Replaces the content of message `seq` if `user_id` wrote it and it is not deleted;
    the message in its new state, or None (nothing changed)."""
    row = (
        await db.execute(
            update(Message)
            .where(*_live_target(room_id, seq), Message.user_id == user_id)
            .values(content=content, edited_at=at)
            .returning(Message.client_id, Message.created_at)
        )
    ).one_or_none()
    if row is None:
        return None
    return StoredMessage(
        room_id=room_id,
        seq=seq,
        user_id=user_id,
        username=None,  # the caller knows it
        content=content,
        client_id=row.client_id,
        created_at=row.created_at,
        edited_at=at,
    )


async def delete_message(db: AsyncSession, *, room_id: str, seq: int, user_id: int) -> bool:
    """Erases message `seq` (content '' in the database, a tombstone) if `user_id` wrote it
    or moderates the room (as of now) and it is not deleted yet. False: nothing changed."""
    moderates = exists().where(
        RoomMember.room_id == room_id,
        RoomMember.user_id == user_id,
        RoomMember.role.in_(MODERATING_ROLES),
    )
    result = await db.execute(
        update(Message)
        .where(*_live_target(room_id, seq), or_(Message.user_id == user_id, moderates))
        .values(content="", deleted=True)
        .returning(Message.seq)
    )
    return result.one_or_none() is not None


async def is_live_message(db: AsyncSession, *, room_id: str, seq: int) -> bool:
    """Whether `seq` is a message that is not deleted: why an edit or a deletion changed
    nothing (no: not found; yes: not allowed)."""
    row = (await db.execute(select(Message.seq).where(*_live_target(room_id, seq)))).first()
    return row is not None


async def find_by_client_keys(
    db: AsyncSession, keys: Sequence[ClientKey]
) -> dict[ClientKey, StoredMessage]:
    """Messages already stored under these idempotency keys."""
    if not keys:
        return {}
    if on_postgresql(db):
        rooms, users, client_ids = zip(*keys, strict=True)
        rows = await db.execute(
            _FIND_BY_CLIENT_KEYS_PG,
            {"rooms": list(rooms), "users": list(users), "client_ids": list(client_ids)},
        )
    else:
        rows = await db.execute(
            _messages().where(
                Message.client_id.is_not(None),
                tuple_(Message.room_id, Message.user_id, Message.client_id).in_(list(keys)),
            )
        )
    found: dict[ClientKey, StoredMessage] = {}
    for row in rows:
        message = _stored(row)
        assert message.client_id is not None and message.user_id is not None
        found[(message.room_id, message.user_id, message.client_id)] = message
    return found


async def history(
    db: AsyncSession, *, room_id: str, after: int | None, through: int, limit: int
) -> tuple[list[StoredMessage], bool]:
    """Oldest first, and whether older ones in that range were left out: with `after` (a
    resume) the newest `limit` rows, messages and events, with `after < seq <= through`;
    without, the newest `limit` messages up to `through`, in their current state."""
    if after is None:
        query = _messages().where(Message.room_id == room_id, Message.seq <= through)
    else:
        query = _rows().where(
            Message.room_id == room_id, Message.seq > after, Message.seq <= through
        )
    rows = await db.execute(query.order_by(Message.seq.desc()).limit(limit + 1))
    newest_first = [_stored(row) for row in rows]
    truncated = len(newest_first) > limit
    return newest_first[:limit][::-1], truncated


async def message_range(
    db: AsyncSession, *, room_id: str, first: int, last: int | None, limit: int
) -> list[StoredMessage]:
    """Messages and events with `first <= seq <= last` (no upper bound when `last` is
    None), oldest first, at most `limit`."""
    query = (
        _rows()
        .where(Message.room_id == room_id, Message.seq >= first)
        .order_by(Message.seq)
        .limit(limit)
    )
    if last is not None:
        query = query.where(Message.seq <= last)
    return [_stored(row) for row in await db.execute(query)]


async def messages_before(
    db: AsyncSession, *, room_id: str, before: int | None, limit: int
) -> list[StoredMessage]:
    """Scrollback: up to `limit` messages (no events) with `seq < before` (the newest when
    `before` is None), newest first, through the primary key (room_id, seq)."""
    query = _messages().where(Message.room_id == room_id)
    if before is not None:
        query = query.where(Message.seq < before)
    rows = await db.execute(query.order_by(Message.seq.desc()).limit(limit))
    return [_stored(row) for row in rows]
