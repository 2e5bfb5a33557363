"""SQL for rooms, their members, invitations and bans.

Indexes: `rooms` by primary key and `ix_rooms_kind_id` (the public directory in id order);
`room_members` by primary key (room, user: a room's members, my role) and
`ix_room_members_user_id_room_id` ("my rooms"); `messages` by primary key (a room's last
message) and `ix_messages_room_id_user_id_seq` (my messages after my read marker);
`room_invites` by primary key and `ix_room_invites_invitee_id_room_id` (my invitations);
`room_bans` by primary key.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    Uuid,
    bindparam,
    column,
    delete,
    func,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.database import insert_unless_present, insert_unless_present_in, on_postgresql
from shared.models import (
    Message,
    Room,
    RoomBan,
    RoomInvite,
    RoomMember,
    Session,
    User,
    UTCDateTime,
    utcnow,
)
from shared.pagination import page_rows
from shared.sessions import SessionUser, live_session_users, session_is_live

AnyRow = Any  # rows of ad-hoc selects

LAST_SEQS_BATCH = 500  # room ids per `last_seqs` statement


async def insert_room(
    db: AsyncSession, *, room_id: str, name: str, created_by: int, kind: str = "public"
) -> Room:
    room = Room(id=room_id, name=name, created_by=created_by, last_seq=0, kind=kind)
    db.add(room)
    await db.flush()
    return room


async def insert_direct_room(
    db: AsyncSession, *, room_id: str, direct_key: str, created_by: int
) -> None:
    """Unless the pair already has one: `uq_rooms_direct_key` decides between concurrent
    first calls (the loser's insert does nothing, after waiting for the winner's commit)."""
    values = {
        "id": room_id,
        "name": "direct",
        "created_by": created_by,
        "created_at": utcnow(),
        "last_seq": 0,
        "kind": "direct",
        "direct_key": direct_key,
    }
    await db.execute(insert_unless_present(db, Room, values, key=[Room.direct_key]))


async def direct_room(db: AsyncSession, *, direct_key: str) -> Room | None:
    room: Room | None = await db.scalar(select(Room).where(Room.direct_key == direct_key))
    return room


async def room_exists(db: AsyncSession, *, room_id: str) -> bool:
    return await db.scalar(select(Room.id).where(Room.id == room_id)) is not None


@dataclass(frozen=True, slots=True)
class RoomAccess:
    """One room as one user reaches it: what the permission rules need, in one query."""

    room: Room
    role: str | None
    banned: bool


def _role_of(user_id: int) -> Any:
    return (
        select(RoomMember.role)
        .where(RoomMember.room_id == Room.id, RoomMember.user_id == user_id)
        .scalar_subquery()
    )


def _banned(user_id: int) -> Any:
    return (
        select(RoomBan.user_id)
        .where(RoomBan.room_id == Room.id, RoomBan.user_id == user_id)
        .exists()
    )


async def room_access(db: AsyncSession, *, room_id: str, user_id: int) -> RoomAccess | None:
    """The room, the user's role in it and whether they are banned: three primary-key
    probes in one round trip. None for an unknown room."""
    row = (
        await db.execute(
            select(Room, _role_of(user_id).label("role"), _banned(user_id).label("banned")).where(
                Room.id == room_id
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return RoomAccess(room=row[0], role=row.role, banned=bool(row.banned))


async def room_accesses(
    db: AsyncSession, *, pairs: Collection[tuple[str, int]]
) -> dict[tuple[str, int], RoomAccess]:
    """`room_access` for many (room, user) pairs: three primary-key reads however many
    pairs (the rooms, the memberships, the bans). Unknown rooms are left out."""
    wanted = list(set(pairs))
    if not wanted:
        return {}
    rooms = {
        room.id: room
        for room in await db.scalars(
            select(Room).where(Room.id.in_({room_id for room_id, _ in wanted}))
        )
    }
    known = [pair for pair in wanted if pair[0] in rooms]
    if not known:
        return {}
    roles = {
        (row[0], row[1]): row[2]
        for row in await db.execute(
            select(RoomMember.room_id, RoomMember.user_id, RoomMember.role).where(
                tuple_(RoomMember.room_id, RoomMember.user_id).in_(known)
            )
        )
    }
    banned = {
        (row[0], row[1])
        for row in await db.execute(
            select(RoomBan.room_id, RoomBan.user_id).where(
                tuple_(RoomBan.room_id, RoomBan.user_id).in_(known)
            )
        )
    }
    return {
        pair: RoomAccess(room=rooms[pair[0]], role=roles.get(pair), banned=pair in banned)
        for pair in known
    }


# Concurrent websocket handshakes, one row each (PostgreSQL): (session, user, room or NULL),
# numbered. Arrays, so that the statement's text is the same for every batch (prepared
# once); IN lists of varying length were re-rendered and re-prepared for each batch.
_HANDSHAKES = (
    func.unnest(
        bindparam("handshake_session_ids", type_=postgresql.ARRAY(Uuid)),
        bindparam("handshake_user_ids", type_=postgresql.ARRAY(BigInteger)),
        bindparam("handshake_room_ids", type_=postgresql.ARRAY(String)),
    )
    .table_valued(
        column("session_id", Uuid),
        column("user_id", BigInteger),
        column("room_id", String),
        with_ordinality="n",
    )
    .render_derived(name="handshake")
)
_ADMISSIONS = (
    select(
        _HANDSHAKES.c.n,
        User.id,
        User.username,
        User.email,
        User.created_at,
        Room,
        RoomMember.role,
        RoomBan.user_id.is_not(None).label("banned"),
    )
    .select_from(_HANDSHAKES)
    .outerjoin(
        Session,
        (Session.id == _HANDSHAKES.c.session_id)
        & (Session.user_id == _HANDSHAKES.c.user_id)
        & session_is_live(bindparam("handshake_now")),
    )
    .outerjoin(User, User.id == Session.user_id)
    .outerjoin(Room, Room.id == _HANDSHAKES.c.room_id)
    .outerjoin(
        RoomMember,
        (RoomMember.room_id == _HANDSHAKES.c.room_id)
        & (RoomMember.user_id == _HANDSHAKES.c.user_id),
    )
    .outerjoin(
        RoomBan,
        (RoomBan.room_id == _HANDSHAKES.c.room_id) & (RoomBan.user_id == _HANDSHAKES.c.user_id),
    )
)

SessionKey = tuple[uuid.UUID, int]  # (session id, user id), as a verified token names them
Admissions = tuple[dict[uuid.UUID, SessionUser], dict[tuple[str, int], RoomAccess]]


async def admission_reads(
    db: AsyncSession, *, handshakes: Sequence[tuple[SessionKey, str | None]]
) -> Admissions:
    """What websocket handshakes need, for many at once: the live sessions' users (by
    session id), and the rooms asked for as each user reaches them (unknown rooms left out).
    One statement of primary-key probes on PostgreSQL; on SQLite, the sessions, then the
    rooms, memberships and bans (`room_accesses`)."""
    if not on_postgresql(db):
        live = await live_session_users(db, [key for key, _ in handshakes])
        pairs = {
            (room_id, live[session_id].id)
            for (session_id, _), room_id in handshakes
            if room_id is not None and session_id in live
        }
        return live, await room_accesses(db, pairs=pairs)
    parameters = {
        "handshake_session_ids": [session_id for (session_id, _), _ in handshakes],
        "handshake_user_ids": [user_id for (_, user_id), _ in handshakes],
        "handshake_room_ids": [room_id for _, room_id in handshakes],
        "handshake_now": utcnow(),
    }
    users: dict[uuid.UUID, SessionUser] = {}
    accesses: dict[tuple[str, int], RoomAccess] = {}
    for row in await db.execute(_ADMISSIONS, parameters):
        if row[1] is None:  # no live session
            continue
        (session_id, _), room_id = handshakes[row.n - 1]
        users[session_id] = SessionUser(
            id=row[1], username=row[2], email=row[3], created_at=row[4], session_id=session_id
        )
        if room_id is not None and row.Room is not None:
            accesses[room_id, row[1]] = RoomAccess(
                room=row.Room, role=row.role, banned=bool(row.banned)
            )
    return users, accesses


def _member_columns() -> Any:
    return select(RoomMember.user_id, User.username, RoomMember.role, RoomMember.joined_at).join(
        User, User.id == RoomMember.user_id
    )


async def member(db: AsyncSession, *, room_id: str, user_id: int) -> AnyRow | None:
    statement = _member_columns().where(
        RoomMember.room_id == room_id, RoomMember.user_id == user_id
    )
    return (await db.execute(statement)).one_or_none()


async def insert_member(db: AsyncSession, *, room_id: str, user_id: int, role: str) -> None:
    """Unless already a member (their role and marker stay). A new member's read marker
    starts at the room's end: what was said before they joined is not unread."""
    await insert_members(db, pairs=[(room_id, user_id)], role=role)


# A membership written unless present, its read marker at the room's end as the row is
# written; built once with bound parameters, and run once per member of a batch (one
# prepared statement, executemany) rather than as one statement whose shape changes with
# the batch's size (compiling that cost more than the rest of a handshake).
_NEW_ROOM = bindparam("new_member_room_id", type_=String)
_NEW_ROOM_NOW = select(Room).where(Room.id == _NEW_ROOM)
_INSERT_MEMBERS = {
    dialect: insert_unless_present_in(
        dialect,
        cast(Table, RoomMember.__table__),  # Core: executemany (insert_unless_present_in)
        {
            "room_id": _NEW_ROOM,
            "user_id": bindparam("new_member_user_id", type_=BigInteger),
            "role": bindparam("new_member_role", type_=String),
            "joined_at": bindparam("new_member_joined_at", type_=RoomMember.joined_at.type),
            "read_seq": _NEW_ROOM_NOW.with_only_columns(Room.last_seq).scalar_subquery(),
            "read_number": _NEW_ROOM_NOW.with_only_columns(Room.message_count).scalar_subquery(),
        },
        key=[RoomMember.room_id, RoomMember.user_id],
    )
    for dialect in ("postgresql", "sqlite")
}


async def insert_members(
    db: AsyncSession, *, pairs: Collection[tuple[str, int]], role: str
) -> None:
    """`insert_member` for many (room, user) pairs: unless already a member, with a read
    marker at the room's end (read when the row is written)."""
    if not pairs:
        return
    now = utcnow()
    rows = [
        {
            "new_member_room_id": room_id,
            "new_member_user_id": user_id,
            "new_member_role": role,
            "new_member_joined_at": now,
        }
        for room_id, user_id in pairs
    ]
    await db.execute(_INSERT_MEMBERS[db.get_bind().dialect.name], rows)


async def delete_member(db: AsyncSession, *, room_id: str, user_id: int) -> bool:
    result = await db.execute(
        delete(RoomMember).where(RoomMember.room_id == room_id, RoomMember.user_id == user_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def set_role(db: AsyncSession, *, room_id: str, user_id: int, role: str) -> None:
    await db.execute(
        update(RoomMember)
        .where(RoomMember.room_id == room_id, RoomMember.user_id == user_id)
        .values(role=role)
    )


async def successor(db: AsyncSession, *, room_id: str) -> int | None:
    """Who takes over a room its owner leaves: the longest-standing moderator, else the
    longest-standing member."""
    moderator_first = (RoomMember.role != "moderator").asc()
    user_id: int | None = await db.scalar(
        select(RoomMember.user_id)
        .where(RoomMember.room_id == room_id, RoomMember.role != "owner")
        .order_by(moderator_first, RoomMember.joined_at, RoomMember.user_id)
        .limit(1)
    )
    return user_id


async def member_counts(db: AsyncSession, room_ids: Collection[str]) -> dict[str, int]:
    if not room_ids:
        return {}
    rows = await db.execute(
        select(RoomMember.room_id, func.count())
        .where(RoomMember.room_id.in_(room_ids))
        .group_by(RoomMember.room_id)
    )
    return {row[0]: row[1] for row in rows}


def members_statement(*, room_id: str, after_user_id: int | None, limit: int) -> Any:
    """A room's members by user id, at most `limit + 1` rows: the page cut from the primary
    key first, then each name by the users' primary key."""
    page = select(RoomMember.user_id, RoomMember.role, RoomMember.joined_at).where(
        RoomMember.room_id == room_id
    )
    if after_user_id is not None:
        page = page.where(RoomMember.user_id > after_user_id)
    cut = page.order_by(RoomMember.user_id).limit(limit + 1).subquery("page")
    return (
        select(cut.c.user_id, User.username, cut.c.role, cut.c.joined_at)
        .join(User, User.id == cut.c.user_id)
        .order_by(cut.c.user_id)
    )


async def members_page(
    db: AsyncSession, *, room_id: str, after_user_id: int | None, limit: int
) -> Sequence[AnyRow]:
    statement = members_statement(room_id=room_id, after_user_id=after_user_id, limit=limit)
    return (await db.execute(statement)).all()


def public_rooms_statement(*, user_id: int, after_id: str | None, limit: int) -> Any:
    """Public rooms in id order (`ix_rooms_kind_id`) with the caller's role in each."""
    statement = select(Room, _role_of(user_id).label("role")).where(Room.kind == "public")
    if after_id is not None:
        statement = statement.where(Room.id > after_id)
    return statement.order_by(Room.id).limit(limit)


async def public_rooms(
    db: AsyncSession, *, user_id: int, after_id: str | None, limit: int
) -> Sequence[AnyRow]:
    statement = public_rooms_statement(user_id=user_id, after_id=after_id, limit=limit)
    return (await db.execute(statement)).all()


async def usernames(db: AsyncSession, user_ids: Collection[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await db.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {row[0]: row[1] for row in rows}


async def insert_invite(
    db: AsyncSession, *, room_id: str, invitee_id: int, inviter_id: int
) -> None:
    """Unless one is already open (it keeps its inviter and time)."""
    values = {
        "room_id": room_id,
        "invitee_id": invitee_id,
        "inviter_id": inviter_id,
        "created_at": utcnow(),
    }
    await db.execute(
        insert_unless_present(
            db, RoomInvite, values, key=[RoomInvite.room_id, RoomInvite.invitee_id]
        )
    )


async def invite(db: AsyncSession, *, room_id: str, invitee_id: int) -> RoomInvite | None:
    found: RoomInvite | None = await db.scalar(
        select(RoomInvite).where(RoomInvite.room_id == room_id, RoomInvite.invitee_id == invitee_id)
    )
    return found


async def delete_invite(db: AsyncSession, *, room_id: str, invitee_id: int) -> bool:
    result = await db.execute(
        delete(RoomInvite).where(RoomInvite.room_id == room_id, RoomInvite.invitee_id == invitee_id)
    )
    return bool(getattr(result, "rowcount", 0))


def invites_statement(*, invitee_id: int, after_room_id: str | None, limit: int) -> Any:
    """My open invitations by room id, each with the room's name and the inviter's (NULL
    once their account is gone): the page cut from `ix_room_invites_invitee_id_room_id`
    first, then the names by primary key."""
    page = select(RoomInvite.room_id, RoomInvite.inviter_id, RoomInvite.created_at).where(
        RoomInvite.invitee_id == invitee_id
    )
    if after_room_id is not None:
        page = page.where(RoomInvite.room_id > after_room_id)
    cut = page.order_by(RoomInvite.room_id).limit(limit + 1).subquery("page")
    inviter = aliased(User)
    return (
        select(
            cut.c.room_id,
            Room.name.label("room_name"),
            cut.c.inviter_id,
            inviter.username.label("inviter_username"),
            cut.c.created_at,
        )
        .join(Room, Room.id == cut.c.room_id)
        .outerjoin(inviter, inviter.id == cut.c.inviter_id)
        .order_by(cut.c.room_id)
    )


async def invites_page(
    db: AsyncSession, *, invitee_id: int, after_room_id: str | None, limit: int
) -> Sequence[AnyRow]:
    statement = invites_statement(invitee_id=invitee_id, after_room_id=after_room_id, limit=limit)
    return (await db.execute(statement)).all()


async def insert_ban(
    db: AsyncSession, *, room_id: str, user_id: int, banned_by: int, reason: str | None
) -> None:
    """Unless already banned (the first ban's author, reason and time stay)."""
    values = {
        "room_id": room_id,
        "user_id": user_id,
        "banned_by": banned_by,
        "reason": reason,
        "created_at": utcnow(),
    }
    await db.execute(
        insert_unless_present(db, RoomBan, values, key=[RoomBan.room_id, RoomBan.user_id])
    )


async def delete_ban(db: AsyncSession, *, room_id: str, user_id: int) -> None:
    await db.execute(delete(RoomBan).where(RoomBan.room_id == room_id, RoomBan.user_id == user_id))


def _ban_columns() -> Any:
    banned_by = aliased(User)
    return (
        select(
            RoomBan.user_id,
            User.username,
            RoomBan.banned_by,
            banned_by.username.label("banned_by_username"),
            RoomBan.reason,
            RoomBan.created_at,
        )
        .join(User, User.id == RoomBan.user_id)
        .outerjoin(banned_by, banned_by.id == RoomBan.banned_by)
    )


async def ban(db: AsyncSession, *, room_id: str, user_id: int) -> AnyRow | None:
    statement = _ban_columns().where(RoomBan.room_id == room_id, RoomBan.user_id == user_id)
    return (await db.execute(statement)).one_or_none()


async def bans_page(
    db: AsyncSession, *, room_id: str, after_user_id: int | None, limit: int
) -> Sequence[AnyRow]:
    """A room's bans by user id (the primary key), at most `limit + 1` rows."""
    statement = _ban_columns().where(RoomBan.room_id == room_id)
    if after_user_id is not None:
        statement = statement.where(RoomBan.user_id > after_user_id)
    return (await db.execute(statement.order_by(RoomBan.user_id).limit(limit + 1))).all()


async def last_seqs(db: AsyncSession, *, room_ids: Sequence[str]) -> dict[str, int]:
    """The last sequence number of each of these rooms (unknown rooms are left out), a
    batch of ids per statement: how hubs notice messages stored but never broadcast."""
    heads: dict[str, int] = {}
    for start in range(0, len(room_ids), LAST_SEQS_BATCH):
        batch = room_ids[start : start + LAST_SEQS_BATCH]
        rows = await db.execute(select(Room.id, Room.last_seq).where(Room.id.in_(batch)))
        heads.update({row.id: row.last_seq for row in rows})
    return heads


# Unread counts. unread = rooms.message_count - member.read_number - my messages after
# read_seq; the last term is counted through `ix_messages_room_id_user_id_seq`, at most
# MINE_COUNT_CAP of them (someone who posted more than that without marking the room read
# is shown an upper bound).
MINE_COUNT_CAP = 1000
# Made once: an alias built per request costs more CPU than the query it serves.
_ACTIVE_LAST = aliased(Message, name="active_last")
_LAST_MESSAGE = aliased(Message, name="last_message")
_AUTHOR = aliased(User, name="author")
_MEMBER = aliased(RoomMember, name="member")


def _mine_after(*, room_id: Any, user_id: Any, read_seq: Any) -> Any:
    """How many of `user_id`'s messages (not edit/delete events) follow `read_seq`, up to
    MINE_COUNT_CAP: a bounded range of the (room_id, user_id, seq) index."""
    mine = (
        select(Message.seq)
        .where(
            Message.room_id == room_id,
            Message.user_id == user_id,
            Message.seq > read_seq,
            # A literal, not a parameter: a prepared statement's generic plan can only use
            # the partial index when its predicate is in the SQL text.
            Message.kind == literal_column("'message'"),
        )
        .limit(literal_column(str(MINE_COUNT_CAP)))
        .correlate_except(Message)
        .subquery("mine")
    )
    return select(func.count()).select_from(mine).scalar_subquery()


# A room's last message (by `rooms.last_message_seq`, the primary key) and its author, as
# `unread.last_message` reads them.
_LAST_MESSAGE_COLUMNS = (
    _LAST_MESSAGE.seq.label("last_message_id"),
    _LAST_MESSAGE.user_id.label("last_user_id"),
    _AUTHOR.username.label("last_username"),
    _LAST_MESSAGE.content.label("last_content"),
    _LAST_MESSAGE.created_at.label("last_created_at"),
    _LAST_MESSAGE.deleted.label("last_deleted"),
)


def _with_last_message(statement: Any) -> Any:
    """`statement` (with `rooms` in it) joined to each room's last message and its author."""
    return statement.outerjoin(
        _LAST_MESSAGE,
        (_LAST_MESSAGE.room_id == Room.id) & (_LAST_MESSAGE.seq == Room.last_message_seq),
    ).outerjoin(_AUTHOR, _AUTHOR.id == _LAST_MESSAGE.user_id)


def _activity(last_message: Any) -> Any:
    """When a room last had a message, or (none yet) when it was made: the list's order."""
    return func.coalesce(last_message.created_at, Room.created_at)


# The parameters of the cached "my rooms" statements.
_READER = bindparam("my_rooms_reader", type_=BigInteger)
_BEFORE_AT = bindparam("my_rooms_before_at", type_=UTCDateTime)
_BEFORE_ID = bindparam("my_rooms_before_id", type_=String)
_AMONG: Any = bindparam("my_rooms_among", expanding=True)


@functools.lru_cache(maxsize=64)  # page sizes in use (100, the snapshot's 500...) x 4 shapes
def my_rooms_by_activity_statement(*, after_cursor: bool, among: bool, limit: int) -> Any:
    """The reader's rooms (or only those named), newest activity first (ties by id,
    descending), each with the reader's role and marker, the last message and its author,
    and the reader's own messages after the marker: one statement, built once per shape
    with bound parameters (building it cost ~1 ms a request); the page's LIMIT stays in the
    SQL text (`page_rows`).

    The page is cut first from `ix_room_members_user_id_room_id` joined to each room and its
    last message by primary key (every membership is looked at: activity is not indexed per
    person), then only the page's rows get their author and their count of my messages."""
    last = _ACTIVE_LAST
    active_at = _activity(last).label("active_at")
    page = (
        select(
            RoomMember.room_id,
            RoomMember.role,
            RoomMember.read_seq,
            RoomMember.read_number,
            active_at,
        )
        .join(Room, Room.id == RoomMember.room_id)
        .outerjoin(last, (last.room_id == Room.id) & (last.seq == Room.last_message_seq))
        .where(RoomMember.user_id == _READER)
    )
    if among:
        page = page.where(RoomMember.room_id.in_(_AMONG))
    if after_cursor:
        page = page.where(
            (active_at < _BEFORE_AT)
            | ((active_at == _BEFORE_AT) & (RoomMember.room_id < _BEFORE_ID))
        )
    cut = (
        page.order_by(active_at.desc(), RoomMember.room_id.desc())
        .limit(page_rows(limit))
        .subquery("page")
    )
    mine = _mine_after(room_id=cut.c.room_id, user_id=_READER, read_seq=cut.c.read_seq)
    return _with_last_message(
        select(
            Room,
            cut.c.role,
            cut.c.read_seq,
            cut.c.read_number,
            cut.c.active_at,
            *_LAST_MESSAGE_COLUMNS,
            mine.label("mine_after"),
        ).join(cut, cut.c.room_id == Room.id)
    ).order_by(cut.c.active_at.desc(), cut.c.room_id.desc())


def my_rooms_by_activity_bound(
    *,
    user_id: int,
    before: tuple[datetime, str] | None,
    limit: int,
    room_ids: Collection[str] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The cached statement for this page's shape, and its parameters."""
    statement = my_rooms_by_activity_statement(
        after_cursor=before is not None, among=room_ids is not None, limit=limit
    )
    parameters: dict[str, Any] = {"my_rooms_reader": user_id}
    if before is not None:
        parameters["my_rooms_before_at"], parameters["my_rooms_before_id"] = before
    if room_ids is not None:
        parameters["my_rooms_among"] = list(room_ids)
    return statement, parameters


async def my_rooms_by_activity(
    db: AsyncSession,
    *,
    user_id: int,
    before: tuple[datetime, str] | None,
    limit: int,
    room_ids: Collection[str] | None = None,
) -> Sequence[AnyRow]:
    """At most `limit + 1` rows (see `my_rooms_by_activity_statement`)."""
    statement, parameters = my_rooms_by_activity_bound(
        user_id=user_id, before=before, limit=limit, room_ids=room_ids
    )
    return (await db.execute(statement, parameters)).all()


def room_reading_statement(*, room_id: str, user_id: int) -> Any:
    """One room's last message and the caller's marker and unread terms (None: not a
    member), in one statement of primary-key probes."""
    member = _MEMBER
    mine = _mine_after(room_id=Room.id, user_id=user_id, read_seq=member.read_seq)
    return _with_last_message(
        select(
            member.read_seq,
            member.read_number,
            Room.message_count,
            *_LAST_MESSAGE_COLUMNS,
            mine.label("mine_after"),
        ).outerjoin(member, (member.room_id == Room.id) & (member.user_id == user_id))
    ).where(Room.id == room_id)


async def room_reading(db: AsyncSession, *, room_id: str, user_id: int) -> AnyRow | None:
    statement = room_reading_statement(room_id=room_id, user_id=user_id)
    return (await db.execute(statement)).one_or_none()


async def advance_marker(db: AsyncSession, *, room_id: str, user_id: int, up_to: int) -> bool:
    """Moves the member's marker to `up_to` (already clamped to the room's last seq) unless
    it is there or further: forward only, in one UPDATE, with the room's message `number`
    at that seq (the newest row at or before it, by primary key; 0 before any). False when
    nothing moved (or not a member)."""
    number = (
        select(Message.number)
        .where(Message.room_id == room_id, Message.seq <= up_to)
        .order_by(Message.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    result = await db.execute(
        update(RoomMember)
        .where(
            RoomMember.room_id == room_id,
            RoomMember.user_id == user_id,
            RoomMember.read_seq < up_to,
        )
        .values(read_seq=up_to, read_number=func.coalesce(number, 0))
    )
    return bool(getattr(result, "rowcount", 0))


# (room, user) pairs that a room refuses now (PostgreSQL): arrays, one prepared statement.
_PAIRS = (
    func.unnest(
        bindparam("shut_out_room_ids", type_=postgresql.ARRAY(String)),
        bindparam("shut_out_user_ids", type_=postgresql.ARRAY(BigInteger)),
    )
    .table_valued(column("room_id", String), column("user_id", BigInteger))
    .render_derived(name="pair")
)
_SHUT_OUT = (
    select(_PAIRS.c.room_id, _PAIRS.c.user_id)
    .select_from(_PAIRS)
    .join(Room, Room.id == _PAIRS.c.room_id)
    .outerjoin(
        RoomMember,
        (RoomMember.room_id == _PAIRS.c.room_id) & (RoomMember.user_id == _PAIRS.c.user_id),
    )
    .outerjoin(
        RoomBan, (RoomBan.room_id == _PAIRS.c.room_id) & (RoomBan.user_id == _PAIRS.c.user_id)
    )
    .where(
        RoomBan.user_id.is_not(None)
        | ((Room.kind != literal_column("'public'")) & RoomMember.user_id.is_(None))
    )
)


async def shut_out(db: AsyncSession, *, pairs: Collection[tuple[str, int]]) -> set[tuple[str, int]]:
    """Of these (room, user) pairs, those the room refuses now: a ban, or no membership of a
    private or direct room. One statement on PostgreSQL (three primary-key probes per pair);
    on SQLite `room_accesses`' three reads, however many pairs."""
    if not pairs:
        return set()
    wanted = list(pairs)
    if on_postgresql(db):
        parameters = {
            "shut_out_room_ids": [room_id for room_id, _ in wanted],
            "shut_out_user_ids": [user_id for _, user_id in wanted],
        }
        return {(row[0], row[1]) for row in await db.execute(_SHUT_OUT, parameters)}
    return {
        pair
        for pair, access in (await room_accesses(db, pairs=wanted)).items()
        if access.banned or (access.room.kind != "public" and access.role is None)
    }
