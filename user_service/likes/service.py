"""Like rules: those of every reaction (`posts.reactions`); and who likes a post."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.pagination import Page, decode_id_cursor, keyset_page
from shared.sessions import SessionUser
from user_service.likes import queries
from user_service.likes.schemas import Liker
from user_service.posts.reactions import Reaction, react
from user_service.posts.schemas import PostOut
from user_service.posts.service import require_post

LIKE = Reaction(
    kind="like", insert=queries.insert_like, delete=queries.delete_like, count=queries.count_like
)


async def like(db: AsyncSession, *, user: SessionUser, post_id: int) -> PostOut:
    """The post as it is now (`liked` true)."""
    return await react(db, LIKE, user=user, post_id=post_id, on=True)


async def unlike(db: AsyncSession, *, user: SessionUser, post_id: int) -> PostOut:
    """The post as it is now (`liked` false)."""
    return await react(db, LIKE, user=user, post_id=post_id, on=False)


async def likers(db: AsyncSession, *, post_id: int, cursor: str | None, limit: int) -> Page[Liker]:
    """Who likes the post, by user id descending; 404 for no such post."""
    before = decode_id_cursor(cursor)
    await require_post(db, post_id=post_id)
    rows = await queries.likers(db, post_id=post_id, before=before, limit=limit)
    return keyset_page(rows, limit=limit, item=Liker.model_validate, key=lambda r: (r.id,))
