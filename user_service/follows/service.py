"""Follow rules: nobody follows themselves, only existing users are followed, and following
or unfollowing twice changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.authentication import SESSION_ENDED, session_user
from shared.database import on_postgresql
from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from shared.pagination import Page, decode_id_cursor, keyset_page
from shared.people import PersonEvent, publish_after_commit
from shared.sessions import SessionUser
from shared.tokens import TokenClaims
from user_service.accounts.service import NO_SUCH_USER, require_user
from user_service.blocks.service import ACROSS_A_BLOCK, refuse_if_blocked
from user_service.follows import queries
from user_service.follows.schemas import FollowEntry, FollowOut, UnfollowOut
from user_service.notifications.service import (
    UNREAD_CAP,
    Notice,
    notify,
    push_unread,
    withdraw,
)

# A follow that vanishes between "already there" and reading it back (a concurrent unfollow)
# is inserted again; this bounds how often.
_FOLLOW_ATTEMPTS = 3


async def follow(db: AsyncSession, *, claims: TokenClaims, following_id: int) -> FollowOut:
    """Idempotent: following someone already followed answers the existing follow.

    On PostgreSQL one statement, its session check included (`queries.FOLLOW_STATEMENT`),
    in its own transaction (`shared.deps.StatementDb`); SQLite runs `_follow`."""
    if following_id == claims.user_id or not on_postgresql(db):
        return await _follow(db, user=await session_user(db, claims), following_id=following_id)
    for _ in range(_FOLLOW_ATTEMPTS):
        created_at = await _follow_in_one_statement(db, claims=claims, following_id=following_id)
        if created_at is not None:
            return FollowOut(
                follower_id=claims.user_id, following_id=following_id, created_at=created_at
            )
    raise Conflict("the follow changed concurrently; try again")


async def _follow_in_one_statement(
    db: AsyncSession, *, claims: TokenClaims, following_id: int
) -> datetime | None:
    """The follow's created_at, or None when a concurrent request made it after the
    statement's snapshot was taken (and may have unfollowed since): try again."""
    try:
        row = await queries.follow_in_one_statement(
            db, claims=claims, following_id=following_id, on=True, unread_cap=UNREAD_CAP
        )
    except IntegrityError:  # the user was deleted while the statement ran
        raise NotFound(NO_SUCH_USER) from None
    if row.username is None:
        raise Unauthorized(SESSION_ENDED)
    if not row.found:
        raise NotFound(NO_SUCH_USER)
    if row.blocked:
        raise Forbidden(ACROSS_A_BLOCK)
    if row.created_at is not None:
        _announce(db, follower_id=claims.user_id, username=row.username, following_id=following_id)
        if row.unread_before is not None:
            push_unread(db, user_id=following_id, unread=row.unread_before + 1)
        return row.created_at  # type: ignore[no-any-return]
    return row.existing  # type: ignore[no-any-return]


async def _follow(db: AsyncSession, *, user: SessionUser, following_id: int) -> FollowOut:
    if following_id == user.id:
        raise BadRequest("you cannot follow yourself")
    await require_user(db, user_id=following_id)
    await refuse_if_blocked(db, user_id=user.id, other_id=following_id)
    for _ in range(_FOLLOW_ATTEMPTS):
        created_at = await _insert_or_find(db, follower=user, following_id=following_id)
        if created_at is not None:
            return FollowOut(follower_id=user.id, following_id=following_id, created_at=created_at)
    raise Conflict("the follow changed concurrently; try again")


def _announce(db: AsyncSession, *, follower_id: int, username: str, following_id: int) -> None:
    """The person followed hears of it on their live streams, after the commit."""
    event = {"type": "follower", "user_id": follower_id, "username": username}
    publish_after_commit(db, PersonEvent(user_ids=(following_id,), event=event))


async def _insert_or_find(
    db: AsyncSession, *, follower: SessionUser, following_id: int
) -> datetime | None:
    """A new follow notifies the person followed (and tells their live streams); one
    already there does not again."""
    follower_id = follower.id
    try:
        created_at = await queries.insert_follow(
            db, follower_id=follower_id, following_id=following_id
        )
    except IntegrityError:  # the user was deleted after `require_user`
        raise NotFound(NO_SUCH_USER) from None
    if created_at is not None:
        await notify(db, actor_id=follower_id, notices=[Notice(following_id, "follow")])
        _announce(
            db, follower_id=follower_id, username=follower.username, following_id=following_id
        )
        return created_at
    return await queries.follow_created_at(db, follower_id=follower_id, following_id=following_id)


async def unfollow(db: AsyncSession, *, claims: TokenClaims, following_id: int) -> UnfollowOut:
    """Idempotent: unfollowing someone not followed is fine too. On PostgreSQL one
    statement, as `follow`."""
    if following_id == claims.user_id or not on_postgresql(db):
        user = await session_user(db, claims)
        if following_id == user.id:
            raise BadRequest("you cannot unfollow yourself")
        await require_user(db, user_id=following_id)
        if await queries.delete_follow(db, follower_id=user.id, following_id=following_id):
            await withdraw(db, actor_id=user.id, notice=Notice(following_id, "follow"))
    else:
        row = await queries.follow_in_one_statement(
            db, claims=claims, following_id=following_id, on=False, unread_cap=UNREAD_CAP
        )
        if row.username is None:
            raise Unauthorized(SESSION_ENDED)
        if not row.found:
            raise NotFound(NO_SUCH_USER)
    return UnfollowOut(follower_id=claims.user_id, following_id=following_id)


async def follow_list(
    db: AsyncSession,
    *,
    direction: queries.Direction,
    user_id: int,
    cursor: str | None,
    limit: int,
) -> Page[FollowEntry]:
    """A page of someone's followers or followees; 404 for an unknown user."""
    before = decode_id_cursor(cursor)
    await require_user(db, user_id=user_id)
    rows = await queries.follow_list(
        db, direction=direction, user_id=user_id, before=before, limit=limit
    )
    return keyset_page(rows, limit=limit, item=FollowEntry.model_validate, key=lambda r: (r.id,))
