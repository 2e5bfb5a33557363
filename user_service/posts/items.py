"""Rows of `event_items` / `post_columns` into `PostOut`s, with their mentions read in one
query per page (never one per post)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from shared.pagination import AnyRow, Page, keyset_page
from user_service.posts import queries
from user_service.posts.schemas import Mention, PostOut, UserRef


async def _mentions(db: AsyncSession, rows: Sequence[AnyRow]) -> dict[int, list[Mention]]:
    found: dict[int, list[Mention]] = defaultdict(list)
    for mention in await queries.mentions_of(db, post_ids=[row.id for row in rows]):
        found[mention.post_id].append(Mention.model_validate(mention, from_attributes=True))
    return found


def _post_out(row: AnyRow, mentions: dict[int, list[Mention]]) -> PostOut:
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
        mentions=mentions.get(row.id, []),
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
    mentions = row.mentions or []
    if isinstance(mentions, str):
        mentions = orjson.loads(mentions)
    post = _post_out(row, {row.id: [Mention(**mention) for mention in mentions]})
    post.liked, post.likes = liked, likes
    return post


async def post_items(db: AsyncSession, rows: Sequence[AnyRow]) -> list[PostOut]:
    mentions = await _mentions(db, rows)
    return [_post_out(row, mentions) for row in rows]


async def post_page(db: AsyncSession, rows: Sequence[AnyRow], *, limit: int) -> Page[PostOut]:
    """Every post list pages by event id (the post's, or the repost's), newest first."""
    mentions = await _mentions(db, rows[:limit])
    return keyset_page(
        rows,
        limit=limit,
        item=lambda row: _post_out(row, mentions),
        key=lambda row: (row.event_id,),
    )


async def posts_shown(
    db: AsyncSession, *, post_ids: Sequence[int], viewer_id: int
) -> dict[int, PostOut]:
    """Posts by id, as `viewer_id` sees them, in two queries whatever their number."""
    rows = await queries.posts_by_id(db, post_ids=post_ids, viewer_id=viewer_id)
    return {post.id: post for post in await post_items(db, rows)}
