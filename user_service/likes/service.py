"""Like rules: liking twice or unliking what is not liked changes nothing, concurrent
identical requests included; the count moves in the same transaction as the like; the
author hears of a like (not of their own), and an unlike takes that back."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound
from shared.pagination import Page
from shared.sessions import SessionUser
from user_service.likes import queries
from user_service.likes.schemas import Liker
from user_service.notifications.service import Notice, notify, withdraw
from user_service.paging import decode_id_cursor, keyset_page
from user_service.posts.schemas import PostOut
from user_service.posts.service import NO_SUCH_POST, get_post, require_post


async def like(db: AsyncSession, *, user: SessionUser, post_id: int) -> PostOut:
    """The post as it is now (`liked` true)."""
    author_id = await require_post(db, post_id=post_id)
    try:
        inserted = await queries.insert_like(db, post_id=post_id, user_id=user.id)
    except IntegrityError:  # the post was deleted after `require_post`
        raise NotFound(NO_SUCH_POST) from None
    if inserted:
        await queries.count_like(db, post_id=post_id, delta=1)
        await notify(
            db, actor_id=user.id, notices=[Notice(user_id=author_id, kind="like", post_id=post_id)]
        )
    return await get_post(db, viewer=user, post_id=post_id)


async def unlike(db: AsyncSession, *, user: SessionUser, post_id: int) -> PostOut:
    """The post as it is now (`liked` false)."""
    author_id = await require_post(db, post_id=post_id)
    if await queries.delete_like(db, post_id=post_id, user_id=user.id):
        await queries.count_like(db, post_id=post_id, delta=-1)
        await withdraw(
            db, actor_id=user.id, notice=Notice(user_id=author_id, kind="like", post_id=post_id)
        )
    return await get_post(db, viewer=user, post_id=post_id)


async def likers(db: AsyncSession, *, post_id: int, cursor: str | None, limit: int) -> Page[Liker]:
    before = decode_id_cursor(cursor)
    await require_post(db, post_id=post_id)
    rows = await queries.likers(db, post_id=post_id, before=before, limit=limit)
    return keyset_page(rows, limit=limit, item=Liker.model_validate, key=lambda r: (r.id,))
