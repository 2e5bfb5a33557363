"""SQL for a person's live stream: what its snapshot counts, and which connected people
follow an author. Every statement walks an index for the rows it needs, never history."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import RoomInvite, UserFollower
from shared.notifications import unread_statement
from ws_service.rooms.unread import UNREAD_MANY

IDS_PER_STATEMENT = 500  # connected people per `followers_among` statement
UNREAD_CAP = UNREAD_MANY  # counts stop here, as rooms' unread counts do ("999+")


async def inbox_counts(db: AsyncSession, *, user_id: int) -> tuple[int, int]:
    """My open invitations and unread notifications, each counted up to UNREAD_CAP, in one
    round trip (`ix_room_invites_invitee_id_room_id`, `ix_notifications_user_id_id`)."""
    invites = (
        select(RoomInvite.room_id).where(RoomInvite.invitee_id == user_id).limit(UNREAD_CAP)
    ).subquery("invites")
    notifications = unread_statement(user_id=user_id, cap=UNREAD_CAP).scalar_subquery()
    row = (
        await db.execute(
            select(select(func.count()).select_from(invites).scalar_subquery(), notifications)
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def followers_among(
    db: AsyncSession, *, author_ids: Collection[int], user_ids: Sequence[int]
) -> list[tuple[int, int]]:
    """(follower, author) for each of `user_ids` who follows one of `author_ids`: primary
    key probes, IDS_PER_STATEMENT people a statement, so the cost follows the number of
    people connected, never an author's follower count."""
    found: list[tuple[int, int]] = []
    authors = list(author_ids)
    for start in range(0, len(user_ids), IDS_PER_STATEMENT):
        batch = user_ids[start : start + IDS_PER_STATEMENT]
        rows = await db.execute(
            select(UserFollower.follower_id, UserFollower.following_id).where(
                UserFollower.follower_id.in_(batch), UserFollower.following_id.in_(authors)
            )
        )
        found.extend((row[0], row[1]) for row in rows)
    return found
