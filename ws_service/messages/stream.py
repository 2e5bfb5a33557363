"""What instances tell each other on the broker's room channels, and its encoding.

Each room has its own channel (`room_channel`). Every instance publishes, after each commit,
the messages it stored (one broker message per room per commit, in sequence order; the
rooms of one commit in one round trip), the join/leave of users whose presence in a room
changed, and who is typing (`TypingEvent`: transient, never stored, delivered outside the
sequence machinery). An instance subscribes to the channel of a room only while it has a
local interest in it (`RoomFeed`), so it receives nothing of the rooms it does not serve;
every instance with an interest, the publisher included, delivers from the channel, so all
of them deliver the same thing. A stored row (a message, or an edit or deletion event) is
carried with all of its fields and decoded back into a `StoredMessage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from ws_service.connection.protocol import PresenceKind, StoredMessage, encode


def room_channel(namespace: str, room_id: str) -> str:
    return f"{namespace}:room:{room_id}"


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """Stored rows (messages and events) of one commit, in sequence order per room."""

    messages: list[StoredMessage]


@dataclass(frozen=True, slots=True)
class PresenceChange:
    kind: PresenceKind
    room_id: str
    user_id: int
    username: str


@dataclass(frozen=True, slots=True)
class TypingEvent:
    """Someone is typing in a room: shown to its other members, never stored."""

    room_id: str
    user_id: int
    username: str


StreamEvent = StoredBatch | PresenceChange | TypingEvent


def encode_stored(messages: Sequence[StoredMessage]) -> bytes:
    return encode({"messages": [_fields(m) for m in messages]})


def stored_by_room(namespace: str, messages: Sequence[StoredMessage]) -> list[tuple[str, bytes]]:
    """One broker message per room (its messages in the order given), for `publish_many`."""
    rooms: dict[str, list[StoredMessage]] = {}
    for message in messages:
        rooms.setdefault(message.room_id, []).append(message)
    return [
        (room_channel(namespace, room_id), encode_stored(rows)) for room_id, rows in rooms.items()
    ]


def _fields(m: StoredMessage) -> dict[str, object]:
    return {
        "room_id": m.room_id,
        "id": m.seq,
        "kind": m.kind,
        "user_id": m.user_id,
        "username": m.username,
        "content": m.content,
        "client_id": m.client_id,
        "created_at": m.created_at,
        "target": m.target,
        "edited_at": m.edited_at,
        "deleted": m.deleted,
    }


def encode_presence(change: PresenceChange) -> bytes:
    return encode(
        {
            "presence": {
                "kind": change.kind,
                "room_id": change.room_id,
                "user_id": change.user_id,
                "username": change.username,
            }
        }
    )


def encode_typing(event: TypingEvent) -> bytes:
    return encode(
        {"typing": {"room_id": event.room_id, "user_id": event.user_id, "username": event.username}}
    )


def decode(data: bytes) -> StreamEvent | None:
    """None for anything malformed: one bad message must not stop an instance's hub."""
    try:
        raw = orjson.loads(data)
        if "messages" in raw:
            return StoredBatch(messages=[_stored(fields) for fields in raw["messages"]])
        if "typing" in raw:
            typing = raw["typing"]
            return TypingEvent(
                room_id=str(typing["room_id"]),
                user_id=int(typing["user_id"]),
                username=str(typing["username"]),
            )
        presence = raw["presence"]
        if presence["kind"] not in ("join", "leave"):
            return None
        return PresenceChange(
            kind=presence["kind"],
            room_id=str(presence["room_id"]),
            user_id=int(presence["user_id"]),
            username=str(presence["username"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _stored(fields: dict[str, object]) -> StoredMessage:
    """The inverse of `_fields`; TypeError or ValueError for a field of the wrong kind."""
    room_id, seq, kind = fields["room_id"], fields["id"], fields["kind"]
    user_id, username = fields["user_id"], fields["username"]
    content, client_id = fields["content"], fields["client_id"]
    created_at, target = fields["created_at"], fields["target"]
    edited_at, deleted = fields["edited_at"], fields["deleted"]
    if not (
        isinstance(room_id, str)
        and isinstance(seq, int)
        and (kind == "message" or kind == "edit" or kind == "delete")
        and (user_id is None or isinstance(user_id, int))
        and (username is None or isinstance(username, str))
        and isinstance(content, str)
        and (client_id is None or isinstance(client_id, str))
        and isinstance(created_at, str)
        and (target is None or isinstance(target, int))
        and (edited_at is None or isinstance(edited_at, str))
        and isinstance(deleted, bool)
    ):
        raise TypeError("a stored message with a field of the wrong type")
    return StoredMessage(
        room_id=room_id,
        seq=seq,
        user_id=user_id,
        username=username,
        content=content,
        client_id=client_id,
        created_at=datetime.fromisoformat(created_at),
        kind=kind,
        target=target,
        edited_at=None if edited_at is None else datetime.fromisoformat(edited_at),
        deleted=deleted,
    )
