"""What instances tell each other on the broker's chat channel, and its encoding.

Every instance publishes, after each commit, the messages it stored (one broker message per
commit, in sequence order), and the join/leave of users whose presence changed across the
whole service. Every instance, the publisher included, delivers from this channel, so all
of them deliver the same thing. A message is carried as its client frame's fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ws_service.connection.protocol import PresenceKind, StoredMessage, encode, message_fields


def chat_channel(namespace: str) -> str:
    return f"{namespace}:chat"


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """Stored messages, each as the fields of its `message` frame (`id` is the seq)."""

    messages: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PresenceChange:
    kind: PresenceKind
    room_id: str
    user_id: int
    username: str


StreamEvent = StoredBatch | PresenceChange


def encode_stored(messages: Sequence[StoredMessage]) -> bytes:
    return encode({"messages": [message_fields(m) for m in messages]})


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


def decode(data: bytes) -> StreamEvent | None:
    """None for anything malformed: one bad message must not stop an instance's hub."""
    try:
        raw = orjson.loads(data)
        if "messages" in raw:
            messages = raw["messages"]
            for message in messages:
                if not isinstance(message["room_id"], str) or not isinstance(message["id"], int):
                    return None
            return StoredBatch(messages=messages)
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
