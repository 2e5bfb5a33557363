"""Tag rules: a tag is matched case-insensitively (it is stored lower-cased)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.pagination import Page, decode_id_cursor
from shared.sessions import SessionUser
from user_service.posts.items import post_page
from user_service.posts.schemas import PostOut
from user_service.tags import queries


async def tag_posts(
    db: AsyncSession, *, viewer: SessionUser, tag: str, cursor: str | None, limit: int
) -> Page[PostOut]:
    """The posts carrying `tag`, newest first (an unknown tag is an empty page)."""
    before = decode_id_cursor(cursor)
    rows = await queries.tag_posts(
        db, tag=tag.lower(), viewer_id=viewer.id, before=before, limit=limit
    )
    return post_page(rows, limit=limit)
