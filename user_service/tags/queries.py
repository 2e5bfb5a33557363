"""SQL on `post_tags`: its primary key (tag, post_id) pages a tag's posts by id."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Post, PostTag
from shared.pagination import AnyRow, AnySelect, page_rows
from user_service.blocks.queries import hidden_authors
from user_service.posts.queries import event_items


def tag_posts_statement(*, tag: str, viewer_id: int, before: int | None, limit: int) -> AnySelect:
    """Posts carrying `tag`, newest first, less those by someone the viewer muted or is
    across a block with: a backward range scan of `pk_post_tags`, each post's author by
    primary key, then each post by primary key."""
    events = (
        select(PostTag.post_id.label("id"))
        .join(Post, Post.id == PostTag.post_id)
        .where(PostTag.tag == tag, Post.author_id.not_in(hidden_authors(viewer_id)))
    )
    if before is not None:
        events = events.where(PostTag.post_id < before)
    page = events.order_by(PostTag.post_id.desc()).limit(page_rows(limit)).subquery("page")
    return event_items(viewer_id=viewer_id, events=page)


async def tag_posts(
    db: AsyncSession, *, tag: str, viewer_id: int, before: int | None, limit: int
) -> Sequence[AnyRow]:
    """At most `limit + 1` rows (the extra one tells whether another page exists)."""
    statement = tag_posts_statement(tag=tag, viewer_id=viewer_id, before=before, limit=limit)
    return (await db.execute(statement)).all()
