"""Follow rules: nobody follows themselves, only existing users are followed, and following
or unfollowing twice changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import BadRequest, Conflict, NotFound
from shared.pagination import Page, decode_id_cursor, keyset_page
from shared.people import PersonEvent, publish_after_commit
from shared.sessions import SessionUser
from user_service.accounts.service import NO_SUCH_USER, require_user
from user_service.blocks.service import refuse_if_blocked
from user_service.follows import queries
from user_service.follows.schemas import FollowEntry, FollowOut, UnfollowOut
from user_service.notifications.service import Notice, notify, withdraw

# A follow that vanishes between "already there" and reading it back (a concurrent unfollow)
# is inserted again; this bounds how often.
_FOLLOW_ATTEMPTS = 3


async def follow(db: AsyncSession, *, user: SessionUser, following_id: int) -> FollowOut:
    """Idempotent: following someone already followed answers the existing follow."""
    if following_id == user.id:
        raise BadRequest("you cannot follow yourself")
    await require_user(db, user_id=following_id)
    await refuse_if_blocked(db, user_id=user.id, other_id=following_id)
    for _ in range(_FOLLOW_ATTEMPTS):
        created_at = await _insert_or_find(db, follower=user, following_id=following_id)
        if created_at is not None:
            return FollowOut(follower_id=user.id, following_id=following_id, created_at=created_at)
    raise Conflict("the follow changed concurrently; try again")


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
        event = {"type": "follower", "user_id": follower_id, "username": follower.username}
        publish_after_commit(db, PersonEvent(user_ids=(following_id,), event=event))
        return created_at
    return await queries.follow_created_at(db, follower_id=follower_id, following_id=following_id)


async def unfollow(db: AsyncSession, *, user: SessionUser, following_id: int) -> UnfollowOut:
    """Idempotent: unfollowing someone not followed is fine too."""
    if following_id == user.id:
        raise BadRequest("you cannot unfollow yourself")
    await require_user(db, user_id=following_id)
    if await queries.delete_follow(db, follower_id=user.id, following_id=following_id):
        await withdraw(db, actor_id=user.id, notice=Notice(following_id, "follow"))
    return UnfollowOut(follower_id=user.id, following_id=following_id)


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
