"""The frames of a person's live stream (`/ws/events`) and the person events that carry them.

A person event (`shared.people`) carries the frame itself; the stream's dispatcher reads a
few of them to keep its own state (`room_added`, `room_removed`, `read`) and forwards every
one as it is.
"""

from __future__ import annotations

from typing import Any, Literal

from ws_service.connection.protocol import encode
from ws_service.rooms.schemas import InviteOut, RoomListItem

RemovalReason = Literal["kick", "ban", "leave"]

# What a getRooms?mine item holds beyond RoomListItem (issue 13); B's item carries them.
_CONVERSATION_DEFAULTS: dict[str, Any] = {"unread": 0, "read_seq": 0, "last_message": None}


def room_item(item: RoomListItem) -> dict[str, Any]:
    """A room as `getRooms?mine` lists it, JSON-ready (missing conversation fields at rest)."""
    return {**_CONVERSATION_DEFAULTS, **item.model_dump(mode="json")}


def room_added(item: RoomListItem) -> dict[str, Any]:
    return {"type": "room_added", "room": room_item(item)}


def room_removed(room_id: str, reason: RemovalReason) -> dict[str, Any]:
    return {"type": "room_removed", "room_id": room_id, "reason": reason}


def invite(invitation: InviteOut) -> dict[str, Any]:
    return {"type": "invite", "invite": invitation.model_dump(mode="json")}


def room_activity(
    *, room_id: str, last_id: int, unread: int, last_message: dict[str, Any] | None
) -> bytes:
    return encode(
        {
            "type": "room_activity",
            "room_id": room_id,
            "last_id": last_id,
            "unread": unread,
            "last_message": last_message,
        }
    )


def presence(*, room_id: str, online: int) -> bytes:
    return encode({"type": "presence", "room_id": room_id, "online": online})
