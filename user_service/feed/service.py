"""The home timeline's rules."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.pagination import Page, decode_id_cursor
from shared.sessions import SessionUser
from user_service.feed import queries
from user_service.posts.items import post_page
from user_service.posts.schemas import PostOut


async def home_feed(
    db: AsyncSession, *, user: SessionUser, cursor: str | None, limit: int
) -> Page[PostOut]:
    """The user's own posts and reposts and those of everyone they follow now, newest first.
    A post appears at most once however the follows change between pages, because pages
    are cut by event id and a post shows at its newest repost."""
    before = decode_id_cursor(cursor)
    rows = await queries.feed(db, user_id=user.id, before=before, limit=limit)
    return post_page(rows, limit=limit)
