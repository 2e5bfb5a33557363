"""Room rules: creating, listing with who is online, and who may join one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.authentication import authenticate, origin_allowed
from shared.errors import Conflict, Forbidden, NotFound
from shared.models import Room
from shared.pagination import decode_cursor, split_page
from shared.runtime import Runtime
from shared.sessions import SessionUser
from shared.text import text_problem
from ws_service.presence.base import Presence, PresentUser
from ws_service.rooms import queries


@dataclass(frozen=True, slots=True)
class RoomWithOnline:
    room: Room
    online: int


@dataclass(frozen=True, slots=True)
class Admission:
    """Who joins which room, and the room's last sequence number when they were let in."""

    user: SessionUser
    room_id: str
    last_seq: int


async def create_room(db: AsyncSession, *, name: str, room_id: str | None, created_by: int) -> Room:
    """`room_id` is generated when absent; a taken one is a 409."""
    room_id = room_id or secrets.token_hex(6)
    if await queries.room_exists(db, room_id=room_id):
        raise Conflict("room id already taken")
    try:
        return await queries.insert_room(db, room_id=room_id, name=name, created_by=created_by)
    except IntegrityError:  # lost a race with the same id
        raise Conflict("room id already taken") from None


async def list_rooms(
    db: AsyncSession, presence: Presence, *, limit: int, cursor: str | None
) -> tuple[list[RoomWithOnline], str | None]:
    """A page of rooms in id order with their online counts, and the next page's cursor."""
    after_id = str(decode_cursor(cursor, str)[0]) if cursor else None
    found = await queries.rooms_after(db, after_id=after_id, limit=limit + 1)
    rooms, next_cursor = split_page(found, limit=limit, key=lambda room: (room.id,))
    online = await presence.online_counts([room.id for room in rooms])
    return [RoomWithOnline(room, online.get(room.id, 0)) for room in rooms], next_cursor


async def list_clients(db: AsyncSession, presence: Presence, *, room_id: str) -> list[PresentUser]:
    if not await queries.room_exists(db, room_id=room_id):
        raise NotFound("room not found")
    return await presence.members(room_id)


async def admit(
    runtime: Runtime, db: AsyncSession, *, token: str | None, origin: str | None, room_id: str
) -> Admission:
    """The websocket handshake's checks, before the upgrade: a browser from another site
    (403: cross-site websocket hijacking rides on the cookie), then the token and its
    session (401), then the room (404)."""
    if not origin_allowed(runtime, origin):
        raise Forbidden("origin not allowed")
    user = await authenticate(runtime, db, token)
    # An id with control characters names no room (and PostgreSQL refuses to compare NUL).
    last_seq = None if text_problem(room_id) else await queries.last_seq(db, room_id=room_id)
    if last_seq is None:
        raise NotFound("room not found")
    return Admission(user=user, room_id=room_id, last_seq=last_seq)
