"""SQL on `post_likes` and the like count it keeps on `posts`. The primary key
(post_id, user_id) serves a post's likers; `ix_post_likes_user_id_post_id` what one user
liked."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Integer, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.database import insert_unless_present_in
from shared.models import Post, PostLike, User, utcnow
from shared.pagination import AnyRow, AnySelect

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
