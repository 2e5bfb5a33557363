"""Liking and reposting, one rule for both: doing it twice is once and undoing what was not
done is fine (concurrent identical requests included: the row is inserted with
`ON CONFLICT DO NOTHING` and deleted with `RETURNING`, and only the request that changed it
moves the count, in the same transaction); the author hears of it (not of their own) and
undoing it takes the notification back. Across a block, either way, it is refused (403);
undoing is not. The answer is the post as it is now."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound
from shared.sessions import SessionUser
from user_service.notifications.schemas import NotificationKind
from user_service.notifications.service import Notice, notify, withdraw
from user_service.posts.schemas import PostOut
from user_service.posts.service import NO_SUCH_POST, get_post, require_post


@dataclass(frozen=True)
class Reaction:
    """A kind of reaction and its SQL: `insert`/`delete` are `(db, *, post_id, user_id)`
    and say whether this call changed the row; `count` is `(db, *, post_id, delta)`."""

    kind: NotificationKind
    insert: Callable[..., Awaitable[bool]]
    delete: Callable[..., Awaitable[bool]]
    count: Callable[..., Awaitable[None]]


async def react(
    db: AsyncSession, reaction: Reaction, *, user: SessionUser, post_id: int, on: bool
) -> PostOut:
    author_id = await require_post(db, post_id=post_id, actor_id=user.id if on else None)
    notice = Notice(user_id=author_id, kind=reaction.kind, post_id=post_id)
    if on:
        try:
            changed = await reaction.insert(db, post_id=post_id, user_id=user.id)
        except IntegrityError:  # the post was deleted after `require_post`
            raise NotFound(NO_SUCH_POST) from None
        if changed:
            await reaction.count(db, post_id=post_id, delta=1)
            await notify(db, actor_id=user.id, notices=[notice])
    elif await reaction.delete(db, post_id=post_id, user_id=user.id):
        await reaction.count(db, post_id=post_id, delta=-1)
        await withdraw(db, actor_id=user.id, notice=notice)
    return await get_post(db, viewer_id=user.id, post_id=post_id)
