"""Which sessions are still live: checked for every connection when account events were
missed (the broker reconnected), so a logout during the outage still closes its sockets."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Session, utcnow

BATCH = 500


async def live_session_ids(db: AsyncSession, session_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(session_ids)
    live: set[uuid.UUID] = set()
    for start in range(0, len(ids), BATCH):
        rows = await db.scalars(
            select(Session.id).where(
                Session.id.in_(ids[start : start + BATCH]),
                Session.revoked_at.is_(None),
                Session.expires_at > utcnow(),
            )
        )
        live.update(rows)
    return live
