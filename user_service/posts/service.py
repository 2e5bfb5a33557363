"""Post rules: anyone signed in writes and reads posts; only the author deletes one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shared.blocks import blocked_either_way
from shared.errors import Forbidden, NotFound
from shared.pagination import AnyRow, Page, decode_id_cursor, keyset_page
from shared.sessions import SessionUser
from user_service.accounts.service import require_user
from user_service.posts import queries
from user_service.posts.schemas import PostOut

NO_SUCH_POST = "no such post"


def post_page(rows: Sequence[AnyRow], *, limit: int) -> Page[PostOut]:
    """Every post list pages by post id, newest first."""
    return keyset_page(rows, limit=limit, item=PostOut.model_validate, key=lambda row: (row.id,))


async def create_post(db: AsyncSession, *, author: SessionUser, content: str) -> PostOut:
    """`content` arrives trimmed and checked by `PostIn`."""
    post = await queries.insert_post(db, author_id=author.id, content=content)
    return PostOut(
        id=post.id,
        author_id=author.id,
        author_username=author.username,
        content=post.content,
        created_at=post.created_at,
    )


async def get_post(db: AsyncSession, *, post_id: int) -> PostOut:
    row = await queries.find_post(db, post_id=post_id)
    if row is None:
        raise NotFound(NO_SUCH_POST)
    return PostOut.model_validate(row)


async def delete_post(db: AsyncSession, *, user: SessionUser, post_id: int) -> None:
    """Only the author may delete a post; anyone else learns only that it exists (403)."""
    author_id = await queries.find_author_id(db, post_id=post_id)
    if author_id is None:
        raise NotFound(NO_SUCH_POST)
    if author_id != user.id:
        raise Forbidden("only the author may delete a post")
    await queries.delete_post(db, post_id=post_id)


async def author_posts(
    db: AsyncSession, *, viewer: SessionUser, author_id: int, cursor: str | None, limit: int
) -> Page[PostOut]:
    """One user's posts, newest first; 404 for an unknown user rather than an empty page,
    and an empty page while a block stands between the viewer and the author."""
    before = decode_id_cursor(cursor)
    await require_user(db, user_id=author_id)
    if await blocked_either_way(db, user_id=viewer.id, other_id=author_id):
        return Page[PostOut](items=[], next_cursor=None)
    rows = await queries.author_posts(db, author_id=author_id, before=before, limit=limit)
    return post_page(rows, limit=limit)
