"""Scrollback, and editing and deleting messages over HTTP: who may, then the message store
(the same path as the socket's frames, so every open socket sees the change live)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.database import release_connection
from shared.errors import Forbidden, NotFound, ServiceUnavailable
from shared.sessions import SessionUser
from ws_service.connection.protocol import PostedEvent
from ws_service.messages import queries
from ws_service.messages.schemas import MessageOut
from ws_service.messages.store import Appended, EventRefused, MessageStore, StoreUnavailable
from ws_service.rooms.service import reach

BANNED = "you are banned from this room"


async def scrollback(
    db: AsyncSession, *, user: SessionUser, room_id: str, before: int | None, limit: int
) -> tuple[list[MessageOut], int | None]:
    """A page of messages older than `before` (the newest without it), oldest first, and
    the `before` of the next (older) page, None when there is none. 404 for a room the
    user may not see, 403 for one banned from it (they may not join it either)."""
    if (await reach(db, room_id=room_id, user_id=user.id)).banned:
        raise Forbidden(BANNED)
    newest_first = await queries.messages_before(
        db, room_id=room_id, before=before, limit=limit + 1
    )
    served = newest_first[:limit]
    next_before = served[-1].seq if len(newest_first) > limit else None
    return [MessageOut.of(message) for message in reversed(served)], next_before


async def edit(
    db: AsyncSession,
    store: MessageStore,
    *,
    user: SessionUser,
    room_id: str,
    seq: int,
    content: str,
) -> MessageOut:
    """`content` already checked as a message's (`EditIn`)."""
    appended = await _store_event(
        db, store, user=user, room_id=room_id, event=PostedEvent("edit", seq, content)
    )
    assert appended.target is not None  # an edit that was stored names its new state
    return MessageOut.of(appended.target)


async def delete(
    db: AsyncSession, store: MessageStore, *, user: SessionUser, room_id: str, seq: int
) -> None:
    await _store_event(
        db, store, user=user, room_id=room_id, event=PostedEvent("delete", seq, None)
    )


async def _store_event(
    db: AsyncSession, store: MessageStore, *, user: SessionUser, room_id: str, event: PostedEvent
) -> Appended:
    """404 for a room the user may not see, 403 when banned from it; then the store decides
    (404 unknown or deleted message, 403 not allowed), in the room's sequence."""
    access = await reach(db, room_id=room_id, user_id=user.id)
    if access.banned:
        raise Forbidden(BANNED)
    # The store commits on a connection of its own: this request's (read-only) one must not
    # be held meanwhile (SQLite has one per process).
    await release_connection(db)
    try:
        return await store.append_event(
            room_id=room_id, user_id=user.id, username=user.username, event=event
        )
    except EventRefused as exc:
        raise (NotFound if exc.code == "not_found" else Forbidden)(exc.detail) from None
    except StoreUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
