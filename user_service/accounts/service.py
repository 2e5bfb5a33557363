"""Account rules: a user id must name someone, and deleting an account erases all of it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound, Unauthorized
from shared.events import AccountEvent, publish_account_event
from shared.runtime import Runtime
from shared.sessions import SessionUser
from user_service.accounts import queries

NO_SUCH_USER = "no such user"


async def require_user(db: AsyncSession, *, user_id: int) -> None:
    """404 unless `user_id` names an existing user."""
    if not await queries.user_exists(db, user_id=user_id):
        raise NotFound(NO_SUCH_USER)


async def delete_account(db: AsyncSession, *, user: SessionUser) -> None:
    """Erases the user and everything that is theirs in the request's one transaction.

    Their sessions go with them, so every token of theirs is refused by every service as
    soon as the transaction commits; rooms they created stay, without a creator. Their
    posts, reposts, likes and the notifications they caused go; their chat messages stay
    as tombstones, content erased; the counts on other
    people's posts go down with them.
    """
    await queries.uncount_activity(db, user_id=user.id)
    await queries.erase_chat_messages(db, user_id=user.id)
    if not await queries.delete_user(db, user_id=user.id):
        # Another request deleted the account between authentication and now.
        raise Unauthorized("session has ended; log in again")


async def announce_deletion(runtime: Runtime, *, user_id: int) -> None:
    """Run after the commit: the ws service closes every socket the user still has open."""
    await publish_account_event(
        runtime.broker,
        runtime.settings.redis_namespace,
        AccountEvent(kind="user_deleted", user_id=user_id),
    )
