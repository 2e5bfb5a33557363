"""Repost rules: like likes, idempotent under concurrency, the count kept in the same
transaction, the author notified (not of their own reposts) and the notice taken back."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound
from shared.sessions import SessionUser
from user_service.notifications.service import Notice, notify, withdraw
from user_service.posts.schemas import PostOut
from user_service.posts.service import NO_SUCH_POST, get_post, require_post
from user_service.reposts import queries


async def repost(db: AsyncSession, *, user: SessionUser, post_id: int) -> PostOut:
    """The post as it is now (`reposted` true)."""
    author_id = await require_post(db, post_id=post_id)
    try:
        inserted = await queries.insert_repost(db, post_id=post_id, user_id=user.id)
    except IntegrityError:  # the post was deleted after `require_post`
        raise NotFound(NO_SUCH_POST) from None
    if inserted:
        await queries.count_repost(db, post_id=post_id, delta=1)
        await notify(
            db,
            actor_id=user.id,
            notices=[Notice(user_id=author_id, kind="repost", post_id=post_id)],
        )
    return await get_post(db, viewer=user, post_id=post_id)


async def unrepost(db: AsyncSession, *, user: SessionUser, post_id: int) -> PostOut:
    """The post as it is now (`reposted` false)."""
    author_id = await require_post(db, post_id=post_id)
    if await queries.delete_repost(db, post_id=post_id, user_id=user.id):
        await queries.count_repost(db, post_id=post_id, delta=-1)
        await withdraw(
            db, actor_id=user.id, notice=Notice(user_id=author_id, kind="repost", post_id=post_id)
        )
    return await get_post(db, viewer=user, post_id=post_id)
