"""Like rules: those of every reaction (`posts.reactions`); and who likes a post.

On PostgreSQL a like or unlike is one statement, its session check included
(`queries.LIKE_STATEMENT`), run in its own transaction (`shared.deps.StatementDb`); SQLite
runs `react`, whose rules it repeats."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.authentication import SESSION_ENDED, session_user
from shared.database import on_postgresql
from shared.errors import Forbidden, NotFound, Unauthorized
from shared.pagination import Page, decode_id_cursor, keyset_page
from shared.tokens import TokenClaims
from user_service.likes import queries
from user_service.likes.schemas import Liker
from user_service.notifications.service import UNREAD_CAP, push_unread
from user_service.posts.items import post_from_statement
from user_service.posts.reactions import Reaction, react
from user_service.posts.schemas import PostOut
from user_service.posts.service import ACROSS_A_BLOCK, NO_SUCH_POST, get_post, require_post

LIKE = Reaction(
    kind="like", insert=queries.insert_like, delete=queries.delete_like, count=queries.count_like
)


async def like(db: AsyncSession, *, claims: TokenClaims, post_id: int) -> PostOut:
    """The post as it is now (`liked` true)."""
    return await _set(db, claims=claims, post_id=post_id, on=True)


async def unlike(db: AsyncSession, *, claims: TokenClaims, post_id: int) -> PostOut:
    """The post as it is now (`liked` false)."""
    return await _set(db, claims=claims, post_id=post_id, on=False)


async def _set(db: AsyncSession, *, claims: TokenClaims, post_id: int, on: bool) -> PostOut:
    if not on_postgresql(db):
        user = await session_user(db, claims)
        return await react(db, LIKE, user=user, post_id=post_id, on=on)
    try:
        row = await queries.like_in_one_statement(
            db, claims=claims, post_id=post_id, on=on, unread_cap=UNREAD_CAP
        )
    except IntegrityError:  # the post was deleted while the statement ran
        raise NotFound(NO_SUCH_POST) from None
    if not row.live:
        raise Unauthorized(SESSION_ENDED)
    if not row.found:
        raise NotFound(NO_SUCH_POST)
    if row.blocked:
        raise Forbidden(ACROSS_A_BLOCK)
    if not row.changed:
        if row.was_liked == on:  # so it was in the snapshot, whose counts then agree
            return post_from_statement(row, liked=on, likes=row.likes)
        # A concurrent identical request changed it after this statement's snapshot was
        # taken: the post is read again, as it is now.
        return await get_post(db, viewer_id=claims.user_id, post_id=post_id)
    if row.unread_before is not None:
        push_unread(db, user_id=row.author_id, unread=row.unread_before + 1)
    return post_from_statement(row, liked=on, likes=row.counted)


async def likers(db: AsyncSession, *, post_id: int, cursor: str | None, limit: int) -> Page[Liker]:
    """Who likes the post, by user id descending; 404 for no such post."""
    before = decode_id_cursor(cursor)
    await require_post(db, post_id=post_id)
    rows = await queries.likers(db, post_id=post_id, before=before, limit=limit)
    return keyset_page(rows, limit=limit, item=Liker.model_validate, key=lambda r: (r.id,))
