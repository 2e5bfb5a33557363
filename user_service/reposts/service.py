"""Repost rules: those of every reaction (`posts.reactions`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.sessions import SessionUser
from user_service.posts.reactions import Reaction, react
from user_service.posts.schemas import PostOut
from user_service.reposts import queries

REPOST = Reaction(
    kind="repost",
    insert=queries.insert_repost,
    delete=queries.delete_repost,
    count=queries.count_repost,
)


async def repost(db: AsyncSession, *, user: SessionUser, post_id: int) -> PostOut:
    """The post as it is now (`reposted` true)."""
    return await react(db, REPOST, user=user, post_id=post_id, on=True)


async def unrepost(db: AsyncSession, *, user: SessionUser, post_id: int) -> PostOut:
    """The post as it is now (`reposted` false)."""
    return await react(db, REPOST, user=user, post_id=post_id, on=False)
