"""SQL on `user_followers`. The primary key (follower_id, following_id) serves "whom does X
follow"; `ix_user_followers_following_id_follower_id` serves "who follows X"."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import BigInteger, and_, bindparam, delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.database import insert_unless_present_in
from shared.models import User, UserFollower, utcnow
from shared.pagination import AnyRow, AnySelect
from shared.sessions import LIVE_SESSION_CTE
from shared.tokens import TokenClaims
from user_service.notifications.queries import unread_sql

# The statements of a follow and an unfollow, built once with bound parameters.
_FOLLOWER = bindparam("follower_id", type_=BigInteger)
_FOLLOWING = bindparam("following_id", type_=BigInteger)
_CREATED_AT = bindparam("created_at", type_=UserFollower.created_at.type)
_DELETE_FOLLOW = (
    delete(UserFollower)
    .where(UserFollower.follower_id == _FOLLOWER, UserFollower.following_id == _FOLLOWING)
    .returning(UserFollower.follower_id)
)


@functools.cache
def _insert_follow(dialect: str) -> Any:
    return insert_unless_present_in(
        dialect,
        UserFollower,
        {"follower_id": _FOLLOWER, "following_id": _FOLLOWING, "created_at": _CREATED_AT},
        key=[UserFollower.follower_id, UserFollower.following_id],
    ).returning(UserFollower.created_at)


async def insert_follow(
    db: AsyncSession, *, follower_id: int, following_id: int
) -> datetime | None:
    """Inserts the follow unless it exists (`ON CONFLICT DO NOTHING`, so concurrent identical
    follows neither fail nor duplicate). Its `created_at`, or None when it was already there."""
    values = {_FOLLOWER.key: follower_id, _FOLLOWING.key: following_id, _CREATED_AT.key: utcnow()}
    created_at: datetime | None = await db.scalar(
        _insert_follow(db.get_bind().dialect.name), values
    )
    return created_at


async def follow_created_at(
    db: AsyncSession, *, follower_id: int, following_id: int
) -> datetime | None:
    created_at: datetime | None = await db.scalar(
        select(UserFollower.created_at).where(
            UserFollower.follower_id == follower_id, UserFollower.following_id == following_id
        )
    )
    return created_at


async def delete_follow(db: AsyncSession, *, follower_id: int, following_id: int) -> bool:
    """True when this call deleted the follow."""
    values = {_FOLLOWER.key: follower_id, _FOLLOWING.key: following_id}
    return (await db.execute(_DELETE_FOLLOW, values)).one_or_none() is not None


async def delete_follows_between(db: AsyncSession, *, user_id: int, other_id: int) -> None:
    """Both directions at once (a block ends them)."""
    await db.execute(
        delete(UserFollower).where(
            or_(
                and_(UserFollower.follower_id == user_id, UserFollower.following_id == other_id),
                and_(UserFollower.follower_id == other_id, UserFollower.following_id == user_id),
            )
        )
    )


# A follow and an unfollow on PostgreSQL, each in one statement (one round trip, its own
# transaction): the session check, the user followed, the block check, the row, the
# notification (or its withdrawal). The rules are those of `service._insert_or_find` and
# `notifications.service.notify`, which SQLite runs. `existing`: the follow's created_at in
# the statement's snapshot.
_FOLLOW_CTES = f"""{LIVE_SESSION_CTE},
target AS (SELECT id FROM users WHERE id = :following_id)"""
FOLLOW_STATEMENT = text(
    f"""WITH {_FOLLOW_CTES},
blocked AS (
    SELECT 1 FROM user_blocks
    WHERE (blocker_id = :user_id AND blocked_id = :following_id)
       OR (blocker_id = :following_id AND blocked_id = :user_id)
),
followed AS (
    INSERT INTO user_followers (follower_id, following_id, created_at)
    SELECT me.id, target.id, :now FROM me, target WHERE NOT EXISTS (SELECT 1 FROM blocked)
    ON CONFLICT (follower_id, following_id) DO NOTHING
    RETURNING created_at
),
notified AS (
    INSERT INTO notifications (user_id, actor_id, kind, post_id, created_at)
    SELECT :following_id, :user_id, 'follow', NULL, :now FROM followed
    WHERE NOT EXISTS (
        SELECT 1 FROM user_mutes WHERE muter_id = :following_id AND muted_id = :user_id)
    RETURNING user_id
)
SELECT (SELECT username FROM me) AS username, EXISTS (SELECT 1 FROM target) AS found,
    EXISTS (SELECT 1 FROM blocked) AS blocked, (SELECT created_at FROM followed) AS created_at,
    (SELECT created_at FROM user_followers
     WHERE follower_id = :user_id AND following_id = :following_id) AS existing,
    CASE WHEN EXISTS (SELECT 1 FROM notified) THEN {unread_sql(":following_id")} END
        AS unread_before"""
)
UNFOLLOW_STATEMENT = text(
    f"""WITH {_FOLLOW_CTES},
unfollowed AS (
    DELETE FROM user_followers
    WHERE follower_id IN (SELECT id FROM me) AND following_id = :following_id
    RETURNING follower_id
),
withdrawn AS (
    DELETE FROM notifications
    WHERE user_id = :following_id AND actor_id = :user_id AND kind = 'follow'
      AND post_id IS NULL AND EXISTS (SELECT 1 FROM unfollowed)
)
SELECT (SELECT username FROM me) AS username, EXISTS (SELECT 1 FROM target) AS found"""
)


async def follow_in_one_statement(
    db: AsyncSession, *, claims: TokenClaims, following_id: int, on: bool, unread_cap: int
) -> AnyRow:
    """PostgreSQL only: FOLLOW_STATEMENT (`on`) or UNFOLLOW_STATEMENT; one row (`username`
    None when the session has ended, `found`, and for a follow `blocked`, `created_at` when
    this statement made it, `existing` and `unread_before` when it notified)."""
    values = {
        "session_id": claims.session_id,
        "user_id": claims.user_id,
        "following_id": following_id,
        "now": utcnow(),
        "unread_cap": unread_cap,
    }
    statement = FOLLOW_STATEMENT if on else UNFOLLOW_STATEMENT
    return (await db.execute(statement, values)).one()


Direction = Literal["followers", "following"]


def follow_list_statement(
    *, direction: Direction, user_id: int, before: int | None, limit: int
) -> AnySelect:
    """Who follows `user_id` ("followers") or whom they follow ("following"), by the other
    user's id descending (most recent accounts first), each with their name by primary key.

    Followers are a backward range scan of `ix_user_followers_following_id_follower_id`,
    following one of the primary key.
    """
    if direction == "followers":
        listed, owner = UserFollower.follower_id, UserFollower.following_id
    else:
        listed, owner = UserFollower.following_id, UserFollower.follower_id
    statement = (
        select(
            User.id, User.username, User.created_at, UserFollower.created_at.label("followed_at")
        )
        .join(User, User.id == listed)
        .where(owner == user_id)
    )
    if before is not None:
        statement = statement.where(listed < before)
    return statement.order_by(listed.desc()).limit(limit + 1)


async def follow_list(
    db: AsyncSession, *, direction: Direction, user_id: int, before: int | None, limit: int
) -> Sequence[AnyRow]:
    """At most `limit + 1` rows (the extra one tells whether another page exists)."""
    statement = follow_list_statement(
        direction=direction, user_id=user_id, before=before, limit=limit
    )
    return (await db.execute(statement)).all()
