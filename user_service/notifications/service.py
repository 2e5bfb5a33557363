"""Notification rules: nobody is notified of their own actions; undoing a like, repost or
follow takes its notification back; the read mark only moves forward.

`notify` is the one place a notification is decided, so it also holds "none from someone I
muted, and none across a block either way". On PostgreSQL likes and follows are one
statement each (`likes.queries.LIKE_STATEMENT`, `follows.queries.FOLLOW_STATEMENT`), which
repeat these rules in SQL; the tests run every rule on both databases.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shared.pagination import AnyRow, Page, decode_id_cursor, keyset_page
from shared.people import PersonEvent, publish_after_commit
from shared.sessions import SessionUser
from user_service.notifications import queries
from user_service.notifications.schemas import (
    NotificationKind,
    NotificationOut,
    ReadOut,
    UnreadOut,
)
from user_service.posts.items import posts_shown
from user_service.posts.schemas import UserRef

UNREAD_CAP = 1000


@dataclass(frozen=True)
class Notice:
    user_id: int
    kind: NotificationKind
    post_id: int | None = None


async def notify(db: AsyncSession, *, actor_id: int, notices: Iterable[Notice]) -> None:
    """Stores what `actor_id` did for each person concerned, once per person and kind,
    never for the actor themselves, nor for anyone who muted them or is across a block;
    each person's live streams get their new unread count after the commit."""
    wanted = [notice for notice in notices if notice.user_id != actor_id]
    silenced = await queries.silenced_by(
        db, actor_id=actor_id, user_ids=sorted({notice.user_id for notice in wanted})
    )
    seen: set[tuple[int, str]] = set()
    rows: list[dict[str, object]] = []
    for notice in wanted:
        if notice.user_id in silenced or (notice.user_id, notice.kind) in seen:
            continue
        seen.add((notice.user_id, notice.kind))
        rows.append(
            {
                "user_id": notice.user_id,
                "actor_id": actor_id,
                "kind": notice.kind,
                "post_id": notice.post_id,
            }
        )
    await queries.insert_notifications(db, rows)
    for user_id in sorted({user_id for user_id, _ in seen}):
        push_unread(
            db, user_id=user_id, unread=await queries.unread(db, user_id=user_id, cap=UNREAD_CAP)
        )


def push_unread(db: AsyncSession, *, user_id: int, unread: int) -> None:
    """The person's live streams get their new unread count after the commit (at most
    UNREAD_CAP)."""
    event = {"type": "notification", "unread": min(UNREAD_CAP, unread)}
    publish_after_commit(db, PersonEvent(user_ids=(user_id,), event=event))


async def withdraw(db: AsyncSession, *, actor_id: int, notice: Notice) -> None:
    """Takes back what `notify` stored for an action now undone."""
    await queries.delete_notification(
        db, user_id=notice.user_id, actor_id=actor_id, kind=notice.kind, post_id=notice.post_id
    )


async def inbox(
    db: AsyncSession, *, user: SessionUser, cursor: str | None, limit: int
) -> Page[NotificationOut]:
    """Newest first; the posts of the page are read in one query."""
    before = decode_id_cursor(cursor)
    rows = await queries.inbox(db, user_id=user.id, before=before, limit=limit)
    posts = await posts_shown(
        db, post_ids=[row.post_id for row in rows[:limit] if row.post_id], viewer_id=user.id
    )

    def item(row: AnyRow) -> NotificationOut:
        return NotificationOut(
            id=row.id,
            kind=row.kind,
            actor=UserRef(id=row.actor_id, username=row.actor_username),
            post=posts.get(row.post_id) if row.post_id else None,
            created_at=row.created_at,
            unread=row.unread,
        )

    return keyset_page(rows, limit=limit, item=item, key=lambda row: (row.id,))


async def unread(db: AsyncSession, *, user: SessionUser) -> UnreadOut:
    return UnreadOut(unread=await queries.unread(db, user_id=user.id, cap=UNREAD_CAP))


async def mark_read(db: AsyncSession, *, user: SessionUser, up_to: int | None) -> ReadOut:
    """Everything up to notification `up_to` is read (all of them when None)."""
    if up_to is None:
        up_to = await queries.newest_id(db, user_id=user.id)
    mark = await queries.mark_read(db, user_id=user.id, up_to=up_to)
    count = await queries.unread(db, user_id=user.id, cap=UNREAD_CAP)
    return ReadOut(read_up_to=mark, unread=count)
