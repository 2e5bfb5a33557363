"""Room rules: creating rooms and direct conversations, listing and showing them as the
caller may see them, and who may join one (the websocket handshake)."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.authentication import SESSION_ENDED
from shared.blocks import blocked_either_way
from shared.errors import BadRequest, Conflict, Forbidden, GoChatError, NotFound, Unauthorized
from shared.models import Room
from shared.pagination import InvalidCursor, decode_cursor, split_page
from shared.people import PersonEvent, publish_after_commit
from shared.sessions import SessionUser
from shared.text import text_problem
from shared.tokens import TokenClaims
from ws_service.events import frames
from ws_service.presence.base import Presence, PresentUser
from ws_service.rooms import queries, unread
from ws_service.rooms.access import NO_SUCH_ROOM, require_visible
from ws_service.rooms.schemas import MyRoomItem, Role, RoomDetail, RoomListItem, RoomOut

DELETED_ACCOUNT = "deleted account"
NO_SUCH_USER = "no such user"


@dataclass(frozen=True, slots=True)
class Admission:
    """Who joins which room, and the room's last sequence number when they were let in;
    `joined`: the `room_added` event for their live streams when this made them a member."""

    user: SessionUser
    room_id: str
    last_seq: int
    joined: dict[str, Any] | None = None


async def reach(db: AsyncSession, *, room_id: str, user_id: int) -> queries.RoomAccess:
    """The room as `user_id` reaches it; the same 404 for an unknown room and for a private
    or direct room they are not in."""
    # An id with control characters names no room (and PostgreSQL refuses to compare NUL).
    if text_problem(room_id):
        raise NotFound(NO_SUCH_ROOM)
    access = await queries.room_access(db, room_id=room_id, user_id=user_id)
    if access is None:
        raise NotFound(NO_SUCH_ROOM)
    require_visible(access.room.kind, access.role)
    return access


def direct_key(user_id: int, other_id: int) -> str:
    """One key per pair, whoever starts the conversation."""
    low, high = sorted((user_id, other_id))
    return f"{low}:{high}"


def peer_of(room: Room, user_id: int) -> int | None:
    """The other person of a direct room (whose account may be gone); None otherwise."""
    if room.direct_key is None:
        return None
    low, high = (int(part) for part in room.direct_key.split(":"))
    return high if low == user_id else low


async def _names(db: AsyncSession, rooms: Sequence[Room], user_id: int) -> dict[str, str]:
    """Each room's name as `user_id` sees it: a direct room is named after the other person."""
    peers = {room.id: peer_of(room, user_id) for room in rooms}
    found = await queries.usernames(db, {peer for peer in peers.values() if peer is not None})
    names = {}
    for room in rooms:
        peer = peers[room.id]
        names[room.id] = room.name if peer is None else found.get(peer, DELETED_ACCOUNT)
    return names


def _room_fields(room: Room, *, name: str, user_id: int) -> dict[str, Any]:
    """`RoomOut`'s fields, for it and the models that extend it (no model in between)."""
    return {
        "id": room.id,
        "name": name,
        "created_by": room.created_by,
        "created_at": room.created_at,
        "kind": room.kind,
        "peer_id": peer_of(room, user_id),
    }


def _room_out(room: Room, *, name: str, user_id: int) -> RoomOut:
    return RoomOut(**_room_fields(room, name=name, user_id=user_id))


async def create_room(
    db: AsyncSession, *, name: str, room_id: str | None, private: bool, creator: SessionUser
) -> RoomOut:
    """`room_id` is generated when absent; a taken one is a 409. The creator owns it."""
    room_id = room_id or secrets.token_hex(6)
    if await queries.room_exists(db, room_id=room_id):
        raise Conflict("room id already taken")
    try:
        room = await queries.insert_room(
            db,
            room_id=room_id,
            name=name,
            created_by=creator.id,
            kind="private" if private else "public",
        )
    except IntegrityError:  # lost a race with the same id
        raise Conflict("room id already taken") from None
    await queries.insert_member(db, room_id=room.id, user_id=creator.id, role="owner")
    out = _room_out(room, name=room.name, user_id=creator.id)
    announce_room_added(db, out, user_id=creator.id, role="owner")
    return out


async def open_direct(db: AsyncSession, *, user: SessionUser, other_id: int) -> RoomOut:
    """The direct room of `user` and `other_id`, made on first use. One per pair even under
    concurrent calls from both: the pair's unique key decides, not a check before the
    insert. Whoever of the two had left it is a member again."""
    if other_id == user.id:
        raise BadRequest("you cannot message yourself")
    if other_id not in await queries.usernames(db, [other_id]):
        raise NotFound(NO_SUCH_USER)
    if await blocked_either_way(db, user_id=user.id, other_id=other_id):
        raise Forbidden("a block stands between you and this user")
    key = direct_key(user.id, other_id)
    await queries.insert_direct_room(
        db, room_id=f"dm-{secrets.token_hex(8)}", direct_key=key, created_by=user.id
    )
    room = await queries.direct_room(db, direct_key=key)
    assert room is not None  # inserted now or before, and never deleted
    for member_id in (user.id, other_id):
        await queries.insert_member(db, room_id=room.id, user_id=member_id, role="member")
    names = await _names(db, [room], user.id)
    # The peer sees the room named after the caller.
    announce_room_added(db, _room_out(room, name=user.username, user_id=other_id), user_id=other_id)
    out = _room_out(room, name=names[room.id], user_id=user.id)
    announce_room_added(db, out, user_id=user.id)
    return out


def announce_room_added(
    db: AsyncSession, room: RoomOut, *, user_id: int, role: Role = "member"
) -> None:
    """After the commit, `user_id`'s live streams get the room (they are a member now). A
    room they already had changes nothing there but the frame (repeats are harmless)."""
    item = RoomListItem(**room.model_dump(), online=0, member=True, role=role)
    publish_after_commit(db, PersonEvent(user_ids=(user_id,), event=frames.room_added(item)))


async def list_rooms(
    db: AsyncSession,
    presence: Presence,
    *,
    user: SessionUser,
    mine: bool,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[RoomListItem], str | None]:
    """A page of rooms with online counts, and the next page's cursor: the public directory
    in id order, or (`mine`) the caller's rooms of every kind by activity (`my_rooms`)."""
    if mine:
        return await my_rooms(db, presence, user_id=user.id, limit=limit, cursor=cursor)
    after_id = str(decode_cursor(cursor, str)[0]) if cursor else None
    found = await queries.public_rooms(db, user_id=user.id, after_id=after_id, limit=limit + 1)
    rows, next_cursor = split_page(found, limit=limit, key=lambda row: (row[0].id,))
    rooms = [row[0] for row in rows]
    online = await presence.online_counts([room.id for room in rooms])
    names = await _names(db, rooms, user.id)
    items = [
        RoomListItem(
            **_room_out(room, name=names[room.id], user_id=user.id).model_dump(),
            online=online.get(room.id, 0),
            member=role is not None,
            role=role,
        )
        for room, role in ((row[0], row[1]) for row in rows)
    ]
    return items, next_cursor


def _activity_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """(activity time, room id) of the last room served; 422 for anything else."""
    if cursor is None:
        return None
    at, room_id = decode_cursor(cursor, str, str)
    try:
        when = datetime.fromisoformat(str(at))
    except ValueError:
        raise InvalidCursor() from None
    if when.tzinfo is None:
        raise InvalidCursor()
    return when, str(room_id)


async def my_rooms(
    db: AsyncSession, presence: Presence, *, user_id: int, limit: int, cursor: str | None
) -> tuple[list[MyRoomItem], str | None]:
    """A page of the user's rooms (every kind), newest activity first, each with their
    unread count, marker and last message, and the next page's cursor: what
    `getRooms?mine=true` and the `/ws/events` snapshot show.

    Activity is the last message's time (a room without one: its creation time); ties go by
    room id, descending. The cursor is the (activity, id) of the last room served, so a walk
    never repeats a room; a room that gets a message during the walk moves ahead of the
    cursor and is not served again by later pages (the caller learns of it live, or on a new
    first page). One statement for the page (`queries.my_rooms_by_activity`), then the
    direct rooms' peer names and the online counts."""
    rows = await queries.my_rooms_by_activity(
        db, user_id=user_id, before=_activity_cursor(cursor), limit=limit
    )
    served, next_cursor = split_page(
        rows, limit=limit, key=lambda row: (row.active_at.isoformat(), row[0].id)
    )
    return await _my_room_items(db, presence, user_id=user_id, rows=served), next_cursor


async def my_rooms_among(
    db: AsyncSession, presence: Presence, *, user_id: int, room_ids: Collection[str]
) -> list[MyRoomItem]:
    """`my_rooms`' items for these rooms only (those the user is a member of; newest
    activity first): a room just added to someone's list, or one whose activity or unread
    count changed. One statement, like a page."""
    if not room_ids:
        return []
    rows = await queries.my_rooms_by_activity(
        db, user_id=user_id, before=None, limit=len(room_ids), room_ids=room_ids
    )
    return await _my_room_items(db, presence, user_id=user_id, rows=rows)


async def _my_room_items(
    db: AsyncSession, presence: Presence, *, user_id: int, rows: Sequence[Any]
) -> list[MyRoomItem]:
    rooms = [row[0] for row in rows]
    online = await presence.online_counts([room.id for room in rooms])
    names = await _names(db, rooms, user_id)
    # Built without validation: every field comes from the database or from our own rules,
    # and validating 100 items cost ~2 ms a page.
    return [
        MyRoomItem.model_construct(
            **_room_fields(row[0], name=names[row[0].id], user_id=user_id),
            online=online.get(row[0].id, 0),
            member=True,
            role=row.role,
            unread=unread.unread_count(
                message_count=row[0].message_count,
                read_number=row.read_number,
                mine_after=row.mine_after,
            ),
            read_seq=row.read_seq,
            last_message=unread.last_message(row),
        )
        for row in rows
    ]


async def room_detail(
    db: AsyncSession, presence: Presence, *, user: SessionUser, room_id: str
) -> RoomDetail:
    access = await reach(db, room_id=room_id, user_id=user.id)
    room = access.room
    names = await _names(db, [room], user.id)
    online = await presence.online_counts([room.id])
    members = await queries.member_counts(db, [room.id])
    reading = await queries.room_reading(db, room_id=room.id, user_id=user.id)
    assert reading is not None  # the room was just read in this transaction
    member = reading.read_seq is not None
    return RoomDetail(
        **_room_out(room, name=names[room.id], user_id=user.id).model_dump(),
        online=online.get(room.id, 0),
        member=access.role is not None,
        role=access.role,
        members=members.get(room.id, 0),
        unread=unread.unread_count(
            message_count=reading.message_count,
            read_number=reading.read_number,
            mine_after=reading.mine_after,
        )
        if member
        else None,
        read_seq=reading.read_seq,
        last_message=unread.last_message(reading),
    )


async def list_clients(
    db: AsyncSession, presence: Presence, *, user: SessionUser, room_id: str
) -> list[PresentUser]:
    await reach(db, room_id=room_id, user_id=user.id)
    return await presence.members(room_id)


def admit_checked(
    user: SessionUser, *, room_id: str, access: queries.RoomAccess | None
) -> Admission:
    """The room's rules for a socket whose session is live: the room (404, also for a
    private or direct conversation the user is not in), then a ban (403). Joining a public
    room the first time makes the user a member: `joined` is then their `room_added` event,
    and the caller writes the membership (`make_members`) before admitting them."""
    if access is None:
        raise NotFound(NO_SUCH_ROOM)
    require_visible(access.room.kind, access.role)
    if access.banned:
        raise Forbidden("you are banned from this room")
    joined = None
    if access.role is None:
        out = _room_out(access.room, name=access.room.name, user_id=user.id)
        joined = frames.room_added(
            RoomListItem(**out.model_dump(), online=0, member=True, role="member")
        )
    return Admission(user=user, room_id=room_id, last_seq=access.room.last_seq, joined=joined)


Handshake = tuple[TokenClaims, str | None]  # a verified token, and the room asked for (if any)


async def admit_many(
    db: AsyncSession, *, handshakes: Sequence[Handshake]
) -> list[Admission | SessionUser | GoChatError]:
    """The database's half of many websocket handshakes at once, in their order: the
    session (401), then for a room socket `admit_checked`; a person's event stream is
    admitted as its user. One statement on PostgreSQL however many handshakes
    (`queries.admission_reads`); nothing is written (see `make_members`).

    Read outside a transaction: a logout, kick or ban that commits meanwhile is caught by
    the session guard's re-check of every socket just after it registered."""
    users, accesses = await queries.admission_reads(
        db,
        handshakes=[
            ((claims.session_id, claims.user_id), _room_asked(room_id))
            for claims, room_id in handshakes
        ],
    )
    results: list[Admission | SessionUser | GoChatError] = []
    for claims, room_id in handshakes:
        user = users.get(claims.session_id)
        try:
            if user is None:
                raise Unauthorized(SESSION_ENDED)
            if room_id is None:
                results.append(user)
                continue
            access = accesses.get((room_id, user.id))
            results.append(admit_checked(user, room_id=room_id, access=access))
        except GoChatError as exc:
            results.append(exc)
    return results


def _room_asked(room_id: str | None) -> str | None:
    """None for no room, and for an id with control characters: it names no room (and
    PostgreSQL refuses to compare NUL)."""
    return None if room_id is None or text_problem(room_id) else room_id


async def make_members(db: AsyncSession, *, admissions: Sequence[Admission]) -> None:
    """Writes the memberships of those admitted to a public room for the first time, in
    one statement (flushed; the caller commits)."""
    await queries.insert_members(
        db,
        pairs=[(a.room_id, a.user.id) for a in admissions if a.joined is not None],
        role="member",
    )
