"""SQL for profiles and username search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Post, User, UserBlock, UserFollower, UserMute
from shared.pagination import AnyRow, AnySelect

# Exactly the expression `uq_users_username_lower` indexes, so that search is served by it.
username_key = func.lower(User.username)


def _pair_exists(column_a: Any, a: int, column_b: Any, b: int) -> ColumnElement[bool]:
    """Whether the row (a, b) is in a pair table: one probe of its primary key. A count, not
    EXISTS, and on the two values rather than correlated: it stays a single probe."""
    table = column_a.class_
    return (
        select(func.count())
        .select_from(table)
        .where(column_a == a, column_b == b)
        .scalar_subquery()
        > 0
    )


def profile_statement(*, user_id: int, viewer_id: int) -> AnySelect:
    """The user, their three counts and where the viewer stands with them, in one round
    trip; each count is read from one index (follows by either side, posts by author), each
    relation is one primary-key probe."""
    followers = (
        select(func.count())
        .select_from(UserFollower)
        .where(UserFollower.following_id == User.id)
        .scalar_subquery()
    )
    following = (
        select(func.count())
        .select_from(UserFollower)
        .where(UserFollower.follower_id == User.id)
        .scalar_subquery()
    )
    posts = (
        select(func.count()).select_from(Post).where(Post.author_id == User.id).scalar_subquery()
    )
    return select(
        User.id,
        User.username,
        User.created_at,
        followers.label("followers"),
        following.label("following"),
        posts.label("posts"),
        _pair_exists(UserFollower.follower_id, viewer_id, UserFollower.following_id, user_id).label(
            "followed_by_me"
        ),
        _pair_exists(UserFollower.follower_id, user_id, UserFollower.following_id, viewer_id).label(
            "follows_me"
        ),
        _pair_exists(UserBlock.blocker_id, viewer_id, UserBlock.blocked_id, user_id).label(
            "blocking"
        ),
        _pair_exists(UserBlock.blocker_id, user_id, UserBlock.blocked_id, viewer_id).label(
            "blocked_by"
        ),
        _pair_exists(UserMute.muter_id, viewer_id, UserMute.muted_id, user_id).label("muting"),
    ).where(User.id == user_id)


async def profile(db: AsyncSession, *, user_id: int, viewer_id: int) -> AnyRow | None:
    statement = profile_statement(user_id=user_id, viewer_id=viewer_id)
    return (await db.execute(statement)).one_or_none()


def search_statement(*, prefix: str, after: str | None, limit: int) -> AnySelect:
    """Usernames starting with `prefix` (any case), by lower-cased username, after `after`.

    A range on `lower(username)` rather than LIKE: `_` is a LIKE wildcard and usernames may
    contain it, and a range is what the b-tree on `lower(username)` (bytewise: collation "C"
    on PostgreSQL, SQLite's default) serves directly. `prefix` is lower-case [a-z0-9_], so
    bumping its last character never overflows.
    """
    upper_bound = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    statement = select(
        User.id, User.username, User.created_at, username_key.label("username_key")
    ).where(username_key >= prefix, username_key < upper_bound)
    if after is not None:
        statement = statement.where(username_key > after)
    return statement.order_by(username_key).limit(limit + 1)


async def search(
    db: AsyncSession, *, prefix: str, after: str | None, limit: int
) -> Sequence[AnyRow]:
    """At most `limit + 1` rows (the extra one tells whether another page exists)."""
    statement = search_statement(prefix=prefix, after=after, limit=limit)
    return (await db.execute(statement)).all()
