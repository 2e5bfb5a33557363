"""SQL for posts. Posts are ordered by id: ids grow with time, so `id DESC` is newest first
and `(author_id, id)` (index `ix_posts_author_id_id`) serves one author's posts in order."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Post, User
from shared.pagination import AnyRow, AnySelect


def post_columns() -> AnySelect:
    """Everything `PostOut` shows, the author's name joined by primary key."""
    return select(
        Post.id,
        Post.author_id,
        User.username.label("author_username"),
        Post.content,
        Post.created_at,
    ).join(User, User.id == Post.author_id)


async def insert_post(db: AsyncSession, *, author_id: int, content: str) -> Post:
    post = Post(author_id=author_id, content=content)
    db.add(post)
    await db.flush()
    return post


async def find_post(db: AsyncSession, *, post_id: int) -> AnyRow | None:
    return (await db.execute(post_columns().where(Post.id == post_id))).one_or_none()


async def find_author_id(db: AsyncSession, *, post_id: int) -> int | None:
    author_id: int | None = await db.scalar(select(Post.author_id).where(Post.id == post_id))
    return author_id


async def delete_post(db: AsyncSession, *, post_id: int) -> None:
    await db.execute(delete(Post).where(Post.id == post_id))


def author_posts_statement(*, author_id: int, before: int | None, limit: int) -> AnySelect:
    """One author's posts, newest first, older than post `before`: a backward range scan of
    `ix_posts_author_id_id`."""
    statement = post_columns().where(Post.author_id == author_id)
    if before is not None:
        statement = statement.where(Post.id < before)
    return statement.order_by(Post.id.desc()).limit(limit + 1)


async def author_posts(
    db: AsyncSession, *, author_id: int, before: int | None, limit: int
) -> Sequence[AnyRow]:
    statement = author_posts_statement(author_id=author_id, before=before, limit=limit)
    return (await db.execute(statement)).all()
