"""Queries on `sessions`: the server-side half of every token."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, select, update
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


# How many session ids one `live_session_ids` statement asks about.
LIVE_CHECK_BATCH = 500


def session_is_live(now: Any = None) -> ColumnElement[bool]:
    """The one rule for a live session: not revoked and not expired (a deleted user's
    sessions are deleted with them). `now`: a bound parameter, or None for the time now."""
    limit = utcnow() if now is None else now
    return and_(Session.revoked_at.is_(None), Session.expires_at > limit)


# Built once with bound parameters: every authenticated request runs it, and building it
# anew cost about as much CPU as executing it (SQLAlchemy caches the compiled form by it).
_LIVE_SESSION_USER = (
    select(User.id, User.username, User.email, User.created_at)
    .join(Session, Session.user_id == User.id)
    .where(
        Session.id == bindparam("session_id"),
        Session.user_id == bindparam("user_id"),
        session_is_live(bindparam("now")),
    )
)


# `session_is_live` and `_LIVE_SESSION_USER` as SQL text, for a write that checks its
# session in its own statement (a CTE named `me`; binds :session_id, :user_id and :now).
LIVE_SESSION_CTE = """me AS (
    SELECT users.id, users.username FROM sessions JOIN users ON users.id = sessions.user_id
    WHERE sessions.id = :session_id AND sessions.user_id = :user_id
      AND sessions.revoked_at IS NULL AND sessions.expires_at > :now
)"""


async def find_live_session_user(
    db: AsyncSession, *, session_id: uuid.UUID, user_id: int
) -> SessionUser | None:
    """One primary-key lookup joined to its user; None when revoked, expired or deleted."""
    values = {"session_id": session_id, "user_id": user_id, "now": utcnow()}
    row = (await db.execute(_LIVE_SESSION_USER, values)).one_or_none()
    if row is None:
        return None
    return SessionUser(
        id=row.id,
        username=row.username,
        email=row.email,
        created_at=row.created_at,
        session_id=session_id,
    )


# The same rule for many sessions at once (the websocket handshakes that arrive together).
_LIVE_SESSION_USERS = (
    select(Session.id, User.id, User.username, User.email, User.created_at)
    .select_from(User)
    .join(Session, Session.user_id == User.id)
    .where(
        Session.id.in_(bindparam("session_ids", expanding=True)),
        session_is_live(bindparam("now")),
    )
)


async def live_session_users(
    db: AsyncSession, sessions: Collection[tuple[uuid.UUID, int]]
) -> dict[uuid.UUID, SessionUser]:
    """`find_live_session_user` for many (session, user) pairs in one statement (at most
    LIVE_CHECK_BATCH of them): the live ones by session id."""
    wanted = dict(sessions)
    if not wanted:
        return {}
    rows = await db.execute(_LIVE_SESSION_USERS, {"session_ids": list(wanted), "now": utcnow()})
    return {
        session_id: SessionUser(
            id=user_id, username=username, email=email, created_at=created_at, session_id=session_id
        )
        for session_id, user_id, username, email, created_at in rows
        if wanted[session_id] == user_id
    }


_LIVE_SESSION_IDS = select(Session.id).where(
    Session.id.in_(bindparam("session_ids", expanding=True)), session_is_live(bindparam("now"))
)


async def live_session_ids(db: AsyncSession, session_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these sessions are still live, a batch of ids per statement: how open
    sockets learn of logouts and expiries they may have missed."""
    ids = list(session_ids)
    live: set[uuid.UUID] = set()
    now = utcnow()
    for start in range(0, len(ids), LIVE_CHECK_BATCH):
        batch = ids[start : start + LIVE_CHECK_BATCH]
        live.update(await db.scalars(_LIVE_SESSION_IDS, {"session_ids": batch, "now": now}))
    return live


async def revoke_session(db: AsyncSession, *, session_id: uuid.UUID) -> bool:
    """Idempotent: True only for the call that actually revoked it."""
    result = await db.execute(
        update(Session)
        .where(Session.id == session_id, Session.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return bool(getattr(result, "rowcount", 0))
