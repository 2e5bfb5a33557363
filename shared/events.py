"""Account events that other services must act on at once (the ws service closes sockets).

Published on the broker after the database change is committed, so a subscriber that
re-checks the database always sees the change.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Literal

import orjson

from shared.broker import Broker

logger = logging.getLogger("gochat.events")

PUBLISH_PATIENCE_SECONDS = 5.0


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
    """Retried for up to PUBLISH_PATIENCE_SECONDS (a Redis restart takes a moment); if it
    still fails, the ws service's periodic re-check of open sessions closes the sockets."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PUBLISH_PATIENCE_SECONDS
    delay = 0.05
    while True:
        try:
            await broker.publish(control_channel(namespace), event.encode())
            return
        except Exception:
            if loop.time() + delay > deadline:
                logger.exception("publishing %s for user %d failed", event.kind, event.user_id)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
