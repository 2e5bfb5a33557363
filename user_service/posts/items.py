"""Rows of `event_items` / `post_columns` into `PostOut`s; each row carries its post's
mentions as a JSON array (`queries.mentions_json`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from shared.pagination import AnyRow, Page, keyset_page
from user_service.posts import queries
from user_service.posts.schemas import Mention, PostOut, UserRef


def _mentions(found: Any) -> list[Mention]:
    """asyncpg and SQLite hand JSON over as text; PostgreSQL's `json_agg` of nothing is NULL."""
    if found is None:
        return []
    if isinstance(found, str | bytes):
        found = orjson.loads(found)
    return [Mention(**mention) for mention in found]


def _post_out(row: AnyRow) -> PostOut:
    reposted_by_id = getattr(row, "reposted_by_id", None)
    return PostOut(
        id=row.id,
        author_id=row.author_id,
        author_username=row.author_username,
        content=row.content,
        created_at=row.created_at,
        in_reply_to=row.in_reply_to,
        replies=row.replies,
        likes=row.likes,
        reposts=row.reposts,
        liked=row.liked,
        reposted=row.reposted,
        mentions=_mentions(row.mentions),
        reposted_by=(
            UserRef(id=reposted_by_id, username=row.reposted_by_username)
            if reposted_by_id is not None
            else None
        ),
        reposted_at=getattr(row, "reposted_at", None),
    )


def post_from_statement(row: AnyRow, *, liked: bool, likes: int) -> PostOut:
    """A row of `queries.SHOWN_POST_SQL` (a one-statement write's answer), whose `liked`
    and like count the write itself decided; its mentions a JSON array."""
    post = _post_out(row)
    post.liked, post.likes = liked, likes
    return post


def post_items(rows: Sequence[AnyRow]) -> list[PostOut]:
    return [_post_out(row) for row in rows]


def post_page(rows: Sequence[AnyRow], *, limit: int) -> Page[PostOut]:
    """Every post list pages by event id (the post's, or the repost's), newest first."""
    return keyset_page(rows, limit=limit, item=_post_out, key=lambda row: (row.event_id,))


async def posts_shown(
    db: AsyncSession, *, post_ids: Sequence[int], viewer_id: int
) -> dict[int, PostOut]:
    """Posts by id, as `viewer_id` sees them, in one query whatever their number."""
    rows = await queries.posts_by_id(db, post_ids=post_ids, viewer_id=viewer_id)
    return {post.id: post for post in post_items(rows)}
