"""Live events for particular people (a read marker moved, a new follower, a new DM...):
published by any service after its commit, carried to that person's `/ws/events` streams by
every chat instance that has one open.

Best effort by design: an event lost while Redis restarts is made good by the snapshot a
stream sends when it (re)connects. Wire format: `{"user_ids": [...], "event": {frame}}`,
where `event` is the JSON object the person's stream sends as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from shared.broker import Broker, publish_patiently

PUBLISH_PATIENCE_SECONDS = 1.0  # a live update later than that is better made good by a snapshot


def people_channel(namespace: str) -> str:
    return f"{namespace}:people"


@dataclass(frozen=True, slots=True)
class PersonEvent:
    user_ids: tuple[int, ...]
    event: dict[str, Any]  # a frame with a "type"

    def encode(self) -> bytes:
        return orjson.dumps(
            {"user_ids": self.user_ids, "event": self.event}, option=orjson.OPT_UTC_Z
        )

    @classmethod
    def decode(cls, data: bytes) -> PersonEvent | None:
        """None for anything malformed: a bad message must not stop a listener."""
        try:
            raw = orjson.loads(data)
            user_ids = tuple(int(user_id) for user_id in raw["user_ids"])
            event = raw["event"]
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                return None
            return cls(user_ids=user_ids, event=event)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


async def publish_person_event(
    broker: Broker, namespace: str, *, user_ids: Iterable[int], event: dict[str, Any]
) -> bool:
    """After the commit. False when the broker refused it for PUBLISH_PATIENCE_SECONDS (the
    people affected see the change on their next snapshot); never raises for that."""
    ids = tuple(sorted(set(user_ids)))
    if not ids:
        return True
    return await publish_patiently(
        broker,
        people_channel(namespace),
        PersonEvent(user_ids=ids, event=event).encode(),
        patience=PUBLISH_PATIENCE_SECONDS,
    )
