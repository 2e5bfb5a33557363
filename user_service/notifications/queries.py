"""SQL on `notifications`: `ix_notifications_user_id_id` serves a person's inbox newest
first and the count above their read mark (`users.notifications_read_id`).

The inbox and unread statements are built once with bound parameters (every page view asks
both; building them cost about as much CPU as running them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Integer,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.models import Notification, User, UserBlock, UserMute, utcnow
from shared.notifications import unread_statement
from shared.pagination import AnyRow, AnySelect

Actor = aliased(User, name="actor")
Reader = aliased(User, name="reader")


async def insert_notifications(db: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    """`rows`: dicts of user_id, actor_id, kind and post_id."""
    if rows:
        now = utcnow()
        await db.execute(insert(Notification), [{**row, "created_at": now} for row in rows])


_ACTOR = bindparam("actor_id", type_=BigInteger)
_CONCERNED: BindParameter[list[int]] = bindparam("concerned_ids", expanding=True)
_SILENCED_BY = union(
    select(UserMute.muter_id).where(UserMute.muted_id == _ACTOR, UserMute.muter_id.in_(_CONCERNED)),
    select(UserBlock.blocker_id).where(
        UserBlock.blocked_id == _ACTOR, UserBlock.blocker_id.in_(_CONCERNED)
    ),
    select(UserBlock.blocked_id).where(
        UserBlock.blocker_id == _ACTOR, UserBlock.blocked_id.in_(_CONCERNED)
    ),
)


async def silenced_by(db: AsyncSession, *, actor_id: int, user_ids: Sequence[int]) -> set[int]:
    """Which of `user_ids` hear nothing from `actor_id`: they muted the actor, or a block
    stands between them either way (primary-key and `ix_user_blocks_blocked_id_blocker_id`
    probes, one round trip; the statement is built once, every like and follow runs it)."""
    if not user_ids:
        return set()
    values = {_ACTOR.key: actor_id, _CONCERNED.key: list(user_ids)}
    return set((await db.scalars(_SILENCED_BY, values)).all())


async def delete_notification(
    db: AsyncSession, *, user_id: int, actor_id: int, kind: str, post_id: int | None
) -> None:
    post = Notification.post_id.is_(None) if post_id is None else Notification.post_id == post_id
    await db.execute(
        delete(Notification).where(
            Notification.user_id == user_id,
            Notification.actor_id == actor_id,
            Notification.kind == kind,
            post,
        )
    )


def inbox_statement(*, user_id: int, before: int | None, limit: int) -> AnySelect:
    """A person's notifications older than `before`, newest first: a backward range scan of
    `ix_notifications_user_id_id`, the actor and the reader's read mark by primary key."""
    return _inbox(user_id=user_id, before=before, rows=limit + 1)


def _inbox(*, user_id: Any, before: Any | None, rows: Any) -> AnySelect:
    """`inbox_statement` with `rows` (`limit + 1`) given, which may be bound parameters."""
    statement = (
        select(
            Notification.id,
            Notification.kind,
            Notification.post_id,
            Notification.created_at,
            Actor.id.label("actor_id"),
            Actor.username.label("actor_username"),
            (Notification.id > Reader.notifications_read_id).label("unread"),
        )
        .join(Actor, Actor.id == Notification.actor_id)
        .join(Reader, Reader.id == Notification.user_id)
        .where(Notification.user_id == user_id)
    )
    if before is not None:
        statement = statement.where(Notification.id < before)
    return statement.order_by(Notification.id.desc()).limit(rows)


_USER = bindparam("inbox_user_id", type_=BigInteger)
_BEFORE = bindparam("inbox_before", type_=BigInteger)
_ROWS = bindparam("inbox_rows", type_=Integer)
_FIRST_PAGE = _inbox(user_id=_USER, before=None, rows=_ROWS)
_NEXT_PAGE = _inbox(user_id=_USER, before=_BEFORE, rows=_ROWS)


async def inbox(
    db: AsyncSession, *, user_id: int, before: int | None, limit: int
) -> Sequence[AnyRow]:
    if before is None:
        statement, values = _FIRST_PAGE, {_USER.key: user_id, _ROWS.key: limit + 1}
    else:
        statement = _NEXT_PAGE
        values = {_USER.key: user_id, _BEFORE.key: before, _ROWS.key: limit + 1}
    return (await db.execute(statement, values)).all()


_CAP = bindparam("unread_cap", type_=Integer)
_UNREAD = unread_statement(user_id=_USER, cap=_CAP)


async def unread(db: AsyncSession, *, user_id: int, cap: int) -> int:
    return int(await db.scalar(_UNREAD, {_USER.key: user_id, _CAP.key: cap}) or 0)


def unread_sql(user_id: str) -> str:
    """`unread_statement` as SQL text, for the one-statement writes: how many notifications
    of `user_id` (an SQL expression) are above their read mark, at most :unread_cap.

    The bound is a row comparison, which only `ix_notifications_user_id_id` can take: with
    `user_id` a column of the outer query (a like's post author) the planner otherwise
    walked `pk_notifications` from the read mark up, filtering on the user (13 ms with
    100,000 notifications of others above it)."""
    return f"""(SELECT count(*) FROM (
        SELECT 1 FROM notifications AS above
        WHERE above.user_id = {user_id} AND (above.user_id, above.id) > ({user_id}, (
            SELECT reader.notifications_read_id FROM users AS reader WHERE reader.id = {user_id}))
        LIMIT :unread_cap) AS counted_above)"""


async def newest_id(db: AsyncSession, *, user_id: int) -> int:
    newest = await db.scalar(
        select(func.max(Notification.id)).where(Notification.user_id == user_id)
    )
    return int(newest or 0)


async def mark_read(db: AsyncSession, *, user_id: int, up_to: int) -> int:
    """Moves the read mark up to `up_to` (never down); the mark after."""
    mark = User.notifications_read_id
    result = await db.execute(
        update(User)
        .where(User.id == user_id)
        .values(notifications_read_id=case((mark < up_to, up_to), else_=mark))
        .returning(User.notifications_read_id)
    )
    return int(result.scalar_one())
