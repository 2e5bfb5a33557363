"""Control events that other services must act on at once (the ws service closes sockets):
a session ended or an account was deleted (`AccountEvent`, close code 4401), someone was
kicked from or banned in a room (`RoomRemovalEvent`, close code 4403) or left it (the same
event, close code 4410: their other tabs must not rejoin).

Published on the broker after the database change is committed, so a subscriber that
re-checks the database always sees the change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, get_args

import orjson

from shared.broker import Broker, publish_patiently

PUBLISH_PATIENCE_SECONDS = 5.0  # a Redis restart takes a moment


def control_channel(namespace: str) -> str:
    return f"{namespace}:control"


@dataclass(frozen=True, slots=True)
class AccountEvent:
    kind: Literal["session_revoked", "user_deleted"]
    user_id: int
    session_id: uuid.UUID | None = None

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "kind": self.kind,
                "user_id": self.user_id,
                "session_id": str(self.session_id) if self.session_id else None,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> AccountEvent | None:
        """None for anything malformed: a bad message must not stop the listener."""
        try:
            raw = orjson.loads(data)
            kind = raw["kind"]
            if kind not in ("session_revoked", "user_deleted"):
                return None
            session_id = uuid.UUID(raw["session_id"]) if raw.get("session_id") else None
            return cls(kind=kind, user_id=int(raw["user_id"]), session_id=session_id)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


async def publish_account_event(broker: Broker, namespace: str, event: AccountEvent) -> None:
    await publish_control_event(broker, namespace, event)


RoomRemovalKind = Literal["room_kick", "room_ban", "room_leave"]
ROOM_REMOVAL_KINDS: tuple[RoomRemovalKind, ...] = get_args(RoomRemovalKind)


@dataclass(frozen=True, slots=True)
class RoomRemovalEvent:
    """Someone was kicked from, banned in or left a room: every chat instance closes that
    user's sockets in that room with `reason` (for example "removed from #general by
    alice"), which a client can show as it is: close code 4403 for a kick or a ban, 4410 for
    a leave (`by_user_id` is then the user themselves), so that the tabs they still had
    open in the room stop instead of reconnecting (and re-joining a public room).

    Published on the same control channel as `AccountEvent`, after the commit. A subscriber
    that does not know a `kind` ignores the message, so older instances are unaffected.
    Wire format: `{"kind": "room_kick" | "room_ban" | "room_leave", "room_id", "user_id",
    "by_user_id", "reason"}`.
    """

    kind: RoomRemovalKind
    room_id: str
    user_id: int
    by_user_id: int
    reason: str

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "kind": self.kind,
                "room_id": self.room_id,
                "user_id": self.user_id,
                "by_user_id": self.by_user_id,
                "reason": self.reason,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> RoomRemovalEvent | None:
        """None for anything malformed or of another kind."""
        try:
            raw = orjson.loads(data)
            kind = raw["kind"]
            if kind not in ROOM_REMOVAL_KINDS:
                return None
            return cls(
                kind=kind,
                room_id=str(raw["room_id"]),
                user_id=int(raw["user_id"]),
                by_user_id=int(raw["by_user_id"]),
                reason=str(raw["reason"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


ControlEvent = AccountEvent | RoomRemovalEvent


async def publish_control_event(broker: Broker, namespace: str, event: ControlEvent) -> None:
    """Retried for up to PUBLISH_PATIENCE_SECONDS; if it still fails, the ws service's
    periodic re-check of open sessions closes the sockets of ended sessions."""
    await publish_patiently(
        broker, control_channel(namespace), event.encode(), patience=PUBLISH_PATIENCE_SECONDS
    )
