"""Queries on `sessions`: the server-side half of every token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Session, User, utcnow


@dataclass(frozen=True, slots=True)
class SessionUser:
    """The user behind a live session, as `current_user` hands it to endpoints."""

    id: int
    username: str
    email: str
    created_at: datetime
    session_id: uuid.UUID


async def create_session(
    db: AsyncSession, *, user_id: int, issued_at: datetime, expires_at: datetime
) -> Session:
    row = Session(id=uuid.uuid4(), user_id=user_id, created_at=issued_at, expires_at=expires_at)
    db.add(row)
    await db.flush()
    return row


async def find_live_session_user(
    db: AsyncSession, *, session_id: uuid.UUID, user_id: int
) -> SessionUser | None:
    """One primary-key lookup joined to its user; None when revoked, expired or deleted."""
    row = (
        await db.execute(
            select(User.id, User.username, User.email, User.created_at)
            .join(Session, Session.user_id == User.id)
            .where(
                Session.id == session_id,
                Session.user_id == user_id,
                Session.revoked_at.is_(None),
                Session.expires_at > utcnow(),
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return SessionUser(
        id=row.id,
        username=row.username,
        email=row.email,
        created_at=row.created_at,
        session_id=session_id,
    )


async def revoke_session(db: AsyncSession, *, session_id: uuid.UUID) -> bool:
    """Idempotent: True only for the call that actually revoked it."""
    result = await db.execute(
        update(Session)
        .where(Session.id == session_id, Session.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))
