"""What a person's stream starts from: their rooms with unread counts, open invitations and
unread notifications, read in one unit of work."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.database import unit_of_work
from shared.sessions import SessionUser
from ws_service.events import frames, queries
from ws_service.events.streams import RoomSeen, Snapshot, snapshot_frame
from ws_service.presence.base import Presence
from ws_service.rooms import service as rooms_service

SNAPSHOT_ROOMS = 500  # the most rooms a snapshot lists (and the stream watches)


async def my_rooms(
    db: AsyncSession, presence: Presence, *, user: SessionUser
) -> list[dict[str, Any]]:
    """The snapshot's rooms: the first `getRooms?mine=true` page, newest activity first, with
    unread counts, markers and last messages."""
    items, _next = await rooms_service.my_rooms(
        db, presence, user_id=user.id, limit=SNAPSHOT_ROOMS, cursor=None
    )
    return [frames.room_item(item) for item in items]


async def take_snapshot(
    sessionmaker: async_sessionmaker[AsyncSession], presence: Presence, *, user: SessionUser
) -> Snapshot:
    async with unit_of_work(sessionmaker) as db:
        rooms = await my_rooms(db, presence, user=user)
        invites, notifications = await queries.inbox_counts(db, user_id=user.id)
    seen = [
        RoomSeen(
            room_id=room["id"],
            unread=int(room.get("unread") or 0),
            last_id=int(room["last_message"]["id"]) if room.get("last_message") else 0,
            last_message=room.get("last_message"),
            online=int(room.get("online") or 0),
        )
        for room in rooms
    ]
    frame = snapshot_frame(rooms, invites=invites, notifications_unread=notifications)
    return Snapshot(frame=frame, rooms=seen)
