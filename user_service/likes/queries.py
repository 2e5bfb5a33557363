"""SQL on `post_likes` and the like count it keeps on `posts`. The primary key
(post_id, user_id) serves a post's likers; `ix_post_likes_user_id_post_id` what one user
liked."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Post, PostLike, User, utcnow
from shared.pagination import AnyRow, AnySelect


async def insert_like(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """Inserts the like unless it exists (`ON CONFLICT DO NOTHING`: concurrent identical
    likes wait for each other and only one inserts). True when this call inserted it."""
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(PostLike)
        .values(post_id=post_id, user_id=user_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[PostLike.post_id, PostLike.user_id])
        .returning(PostLike.post_id)
    )
    return await db.scalar(statement) is not None


async def delete_like(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """True when this call deleted the like (a concurrent unlike waits, then finds none)."""
    result = await db.execute(
        delete(PostLike)
        .where(PostLike.post_id == post_id, PostLike.user_id == user_id)
        .returning(PostLike.post_id)
    )
    return result.one_or_none() is not None


async def count_like(db: AsyncSession, *, post_id: int, delta: int) -> None:
    await db.execute(
        update(Post).where(Post.id == post_id).values(like_count=Post.like_count + delta)
    )


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
