"""SQL for reposts: rows of `posts` with `repost_of_id` set and no content, one per person
and post (`uq_posts_repost_of_id_author_id`), and the repost count kept on the original."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.database import on_postgresql
from shared.models import Post, utcnow


async def insert_repost(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """Inserts the repost unless it exists (`ON CONFLICT DO NOTHING` on the partial unique
    index). True when this call inserted it."""
    insert = postgresql.insert if on_postgresql(db) else sqlite.insert
    statement = (
        insert(Post)
        .values(author_id=user_id, content="", repost_of_id=post_id, created_at=utcnow())
        .on_conflict_do_nothing(
            index_elements=[Post.repost_of_id, Post.author_id],
            index_where=Post.repost_of_id.is_not(None),
        )
        .returning(Post.id)
    )
    return await db.scalar(statement) is not None


async def delete_repost(db: AsyncSession, *, post_id: int, user_id: int) -> bool:
    """True when this call deleted the repost."""
    result = await db.execute(
        delete(Post)
        .where(Post.repost_of_id == post_id, Post.author_id == user_id)
        .returning(Post.id)
    )
    return result.one_or_none() is not None


async def count_repost(db: AsyncSession, *, post_id: int, delta: int) -> None:
    await db.execute(
        update(Post).where(Post.id == post_id).values(repost_count=Post.repost_count + delta)
    )
