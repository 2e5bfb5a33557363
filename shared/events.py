"""Account events that other services must act on at once (the ws service closes sockets).

Published on the broker after the database change is committed, so a subscriber that
re-checks the database always sees the change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

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
    """Retried for up to PUBLISH_PATIENCE_SECONDS; if it still fails, the ws service's
    periodic re-check of open sessions closes the sockets."""
    await publish_patiently(
        broker, control_channel(namespace), event.encode(), patience=PUBLISH_PATIENCE_SECONDS
    )
