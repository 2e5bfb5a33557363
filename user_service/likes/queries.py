"""SQL on `post_likes` and the like count it keeps on `posts`. The primary key
(post_id, user_id) serves a post's likers; `ix_post_likes_user_id_post_id` what one user
liked."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Integer, bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.database import insert_unless_present_in
from shared.models import Post, PostLike, User, utcnow
from shared.pagination import AnyRow, AnySelect
from shared.sessions import LIVE_SESSION_CTE
from shared.tokens import TokenClaims
from user_service.notifications.queries import unread_sql
from user_service.posts.queries import SHOWN_POST_SQL

# The statements of a like and an unlike, built once with bound parameters (each request
# runs three of them; building them cost about as much CPU as running them).
_POST_ID = bindparam("like_post_id", type_=BigInteger)
_USER_ID = bindparam("like_user_id", type_=BigInteger)
_NOW = bindparam("like_created_at", type_=PostLike.created_at.type)
_DELTA = bindparam("like_delta", type_=Integer)
_INSERTS = {
    dialect: insert_unless_present_in(
        dialect,
        PostLike,
        {"post_id": _POST_ID, "user_id": _USER_ID, "created_at": _NOW},
        key=[PostLike.post_id, PostLike.user_id],
    ).returning(PostLike.post_id)
    for dialect in ("postgresql", "sqlite")
}
_DELETE = (
    delete(PostLike)
    .where(PostLike.post_id == _POST_ID, PostLike.user_id == _USER_ID)
    .returning(PostLike.post_id)
)
_COUNT = update(Post).where(Post.id == _POST_ID).values(like_count=Post.like_count + _DELTA)


async def insert_like(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """Inserts the like unless it exists (`ON CONFLICT DO NOTHING`: concurrent identical
    likes wait for each other and only one inserts). True when this call inserted it."""
    statement = _INSERTS[db.get_bind().dialect.name]
    values = {_POST_ID.key: post_id, _USER_ID.key: user_id, _NOW.key: utcnow()}
    return await db.scalar(statement, values) is not None


async def delete_like(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """True when this call deleted the like (a concurrent unlike waits, then finds none)."""
    result = await db.execute(_DELETE, {_POST_ID.key: post_id, _USER_ID.key: user_id})
    return result.one_or_none() is not None


async def count_like(db: AsyncSession, *, post_id: int, delta: int) -> None:
    await db.execute(_COUNT, {_POST_ID.key: post_id, _DELTA.key: delta})


# A like and an unlike on PostgreSQL, each in one statement (one round trip, its own
# transaction): the session check, the post, the block check, the row, the count, the
# notification (or its withdrawal) and the post as it is now. The rules are those of
# `posts.reactions.react` and `notifications.service.notify`, which SQLite runs.
# Data-modifying CTEs all see the statement's snapshot: the count comes from the UPDATE's
# RETURNING (the row as committed, under its lock); the post's other columns and the
# author's unread count from the snapshot (the new notification not in it yet).
_POST_CTES = f"""{LIVE_SESSION_CTE},
post AS (
    SELECT id, author_id FROM posts WHERE id = :post_id AND repost_of_id IS NULL
)"""
_ANSWER = f"""SELECT EXISTS (SELECT 1 FROM me) AS live, shown.id IS NOT NULL AS found,
    EXISTS (SELECT 1 FROM changed) AS changed, (SELECT like_count FROM counted) AS counted,
    EXISTS (SELECT 1 FROM post_likes AS was
            WHERE was.post_id = :post_id AND was.user_id = :user_id) AS was_liked,
    {{notified}}, {SHOWN_POST_SQL}
FROM (SELECT 1) AS one
LEFT JOIN posts AS shown ON shown.id = :post_id AND shown.repost_of_id IS NULL
LEFT JOIN users AS shown_author ON shown_author.id = shown.author_id"""
LIKE_STATEMENT = text(
    f"""WITH {_POST_CTES},
blocked AS (
    SELECT 1 FROM user_blocks, post
    WHERE (user_blocks.blocker_id = :user_id AND user_blocks.blocked_id = post.author_id)
       OR (user_blocks.blocker_id = post.author_id AND user_blocks.blocked_id = :user_id)
),
changed AS (
    INSERT INTO post_likes (post_id, user_id, created_at)
    SELECT post.id, me.id, :now FROM post, me WHERE NOT EXISTS (SELECT 1 FROM blocked)
    ON CONFLICT (post_id, user_id) DO NOTHING
    RETURNING post_id
),
counted AS (
    UPDATE posts SET like_count = like_count + 1 WHERE id IN (SELECT post_id FROM changed)
    RETURNING like_count
),
notified AS (
    INSERT INTO notifications (user_id, actor_id, kind, post_id, created_at)
    SELECT post.author_id, :user_id, 'like', post.id, :now FROM post, changed
    WHERE post.author_id <> :user_id AND NOT EXISTS (
        SELECT 1 FROM user_mutes WHERE muter_id = post.author_id AND muted_id = :user_id)
    RETURNING user_id
)
"""
    + _ANSWER.format(
        notified=f"""EXISTS (SELECT 1 FROM blocked) AS blocked,
    CASE WHEN EXISTS (SELECT 1 FROM notified) THEN {unread_sql("shown.author_id")} END
        AS unread_before"""
    )
)
UNLIKE_STATEMENT = text(
    f"""WITH {_POST_CTES},
changed AS (
    DELETE FROM post_likes
    WHERE post_id IN (SELECT id FROM post) AND user_id IN (SELECT id FROM me)
    RETURNING post_id
),
counted AS (
    UPDATE posts SET like_count = like_count - 1 WHERE id IN (SELECT post_id FROM changed)
    RETURNING like_count
),
withdrawn AS (
    DELETE FROM notifications
    WHERE user_id IN (SELECT author_id FROM post) AND actor_id = :user_id AND kind = 'like'
      AND post_id = :post_id AND EXISTS (SELECT 1 FROM changed)
)
"""
    + _ANSWER.format(notified="false AS blocked, NULL AS unread_before")
)


async def like_in_one_statement(
    db: AsyncSession, *, claims: TokenClaims, post_id: int, on: bool, unread_cap: int
) -> AnyRow:
    """PostgreSQL only: LIKE_STATEMENT (`on`) or UNLIKE_STATEMENT; one row (`live`, `found`,
    `blocked`, `changed`, `counted`, `was_liked` in the snapshot, `unread_before` and the
    post's columns)."""
    values = {
        "session_id": claims.session_id,
        "user_id": claims.user_id,
        "post_id": post_id,
        "now": utcnow(),
        "unread_cap": unread_cap,
    }
    statement = LIKE_STATEMENT if on else UNLIKE_STATEMENT
    return (await db.execute(statement, values)).one()


def likers_statement(*, post_id: int, before: int | None, limit: int) -> AnySelect:
    """Who likes the post, by user id descending: a backward range scan of `pk_post_likes`,
    each user by primary key."""
    statement = (
        select(User.id, User.username, User.created_at, PostLike.created_at.label("liked_at"))
        .join(User, User.id == PostLike.user_id)
        .where(PostLike.post_id == post_id)
    )
    if before is not None:
        statement = statement.where(PostLike.user_id < before)
    return statement.order_by(PostLike.user_id.desc()).limit(limit + 1)


async def likers(
    db: AsyncSession, *, post_id: int, before: int | None, limit: int
) -> Sequence[AnyRow]:
    statement = likers_statement(post_id=post_id, before=before, limit=limit)
    return (await db.execute(statement)).all()
