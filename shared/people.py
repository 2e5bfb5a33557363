"""Live events for particular people (a read marker moved, a new follower, a new DM...):
published by any service after its commit, carried to that person's `/ws/events` streams by
every chat instance that has one open.

Best effort by design: an event lost while Redis restarts is made good by the snapshot a
stream sends when it (re)connects. Wire format: `{"user_ids": [...], "event": {frame}}`,
where `event` is the JSON object the person's stream sends as it is; or, for an event meant
for an author's followers (a new post), `{"user_ids": [], "followers_of": AUTHOR_ID,
"event": {frame}}`: each chat instance finds which of the people connected to it follow the
author, so the cost follows the people connected, not the author's follower count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from shared.broker import Broker, publish_patiently

PUBLISH_PATIENCE_SECONDS = 1.0  # a live update later than that is better made good by a snapshot
_AFTER_COMMIT = "gochat.person_events"  # the session's `info` key of events to publish


def people_channel(namespace: str) -> str:
    return f"{namespace}:people"


@dataclass(frozen=True, slots=True)
class PersonEvent:
    user_ids: tuple[int, ...]
    event: dict[str, Any]  # a frame with a "type"
    followers_of: int | None = None  # also for whoever follows this author

    def encode(self) -> bytes:
        raw: dict[str, Any] = {"user_ids": self.user_ids, "event": self.event}
        if self.followers_of is not None:
            raw["followers_of"] = self.followers_of
        return orjson.dumps(raw, option=orjson.OPT_UTC_Z)

    @classmethod
    def decode(cls, data: bytes) -> PersonEvent | None:
        """None for anything malformed: a bad message must not stop a listener."""
        try:
            raw = orjson.loads(data)
            user_ids = tuple(int(user_id) for user_id in raw["user_ids"])
            event = raw["event"]
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                return None
            author = raw.get("followers_of")
            followers_of = None if author is None else int(author)
            return cls(user_ids=user_ids, event=event, followers_of=followers_of)
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


async def publish_followers_event(
    broker: Broker, namespace: str, *, author_id: int, event: dict[str, Any]
) -> bool:
    """After the commit: `event` for the connected followers of `author_id` (as
    `publish_person_event`, best effort)."""
    return await publish_patiently(
        broker,
        people_channel(namespace),
        PersonEvent(user_ids=(), event=event, followers_of=author_id).encode(),
        patience=PUBLISH_PATIENCE_SECONDS,
    )


def publish_after_commit(db: AsyncSession, event: PersonEvent) -> None:
    """For service functions, which never commit: `event` is published once the request's
    unit of work has committed (`shared.deps.get_db`), and never if it rolls back."""
    db.info.setdefault(_AFTER_COMMIT, []).append(event)


async def publish_committed(broker: Broker, namespace: str, db: AsyncSession) -> None:
    """What `publish_after_commit` queued on `db`, now that it has committed."""
    events: list[PersonEvent] = db.info.pop(_AFTER_COMMIT, [])
    for event in events:
        await publish_patiently(
            broker,
            people_channel(namespace),
            event.encode(),
            patience=PUBLISH_PATIENCE_SECONDS,
        )
