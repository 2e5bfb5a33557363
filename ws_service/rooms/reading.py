"""Read markers: moving one (forward only) and telling the reader's other tabs and devices.

The marker is `room_members.read_seq` with the room's message `number` there
(`read_number`), so that the unread count stays a subtraction (`unread`). Who moves it: a
`read` frame on the room's socket (coalesced per socket, `connection.read_marker`) or
`POST /ws/rooms/{id}/read`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shared.broker import Broker
from shared.errors import NotFound
from shared.people import publish_person_event
from ws_service.rooms import queries, unread
from ws_service.rooms.service import reach

NOT_A_MEMBER = "you are not a member of this room"


@dataclass(frozen=True, slots=True)
class ReadState:
    room_id: str
    user_id: int
    read_seq: int  # the marker after the call (an older `up_to` leaves it where it was)
    unread: int  # as `getRooms?mine=true` counts it
    moved: bool  # whether this call moved it

    def event(self) -> dict[str, Any]:
        """The person event (`/ws/events` frame) that says where the marker now is."""
        return {
            "type": "read",
            "room_id": self.room_id,
            "read_seq": self.read_seq,
            "unread": self.unread,
        }


async def mark_read(db: AsyncSession, *, room_id: str, user_id: int, up_to: int) -> ReadState:
    """Moves the user's marker in the room to `up_to` (past the room's last seq: to it),
    unless it is already there or further. 404 for a room the user may not see, and for a
    public room they are not a member of (a marker belongs to a membership; joining makes
    one). The caller commits, then `announce`s a state that `moved`."""
    access = await reach(db, room_id=room_id, user_id=user_id)
    if access.role is None:
        raise NotFound(NOT_A_MEMBER)
    moved = await queries.advance_marker(
        db, room_id=room_id, user_id=user_id, up_to=min(up_to, access.room.last_seq)
    )
    reading = await queries.room_reading(db, room_id=room_id, user_id=user_id)
    if reading is None or reading.read_seq is None:  # removed from the room meanwhile
        raise NotFound(NOT_A_MEMBER)
    return ReadState(
        room_id=room_id,
        user_id=user_id,
        read_seq=reading.read_seq,
        unread=unread.unread_count(
            message_count=reading.message_count,
            read_number=reading.read_number,
            mine_after=reading.mine_after,
        ),
        moved=moved,
    )


async def announce(broker: Broker, namespace: str, state: ReadState) -> None:
    """After the commit: every `/ws/events` stream of the reader, on every instance, hears
    where the marker is (best effort; a stream's snapshot makes a lost one good)."""
    if state.moved:
        await publish_person_event(broker, namespace, user_ids=[state.user_id], event=state.event())
