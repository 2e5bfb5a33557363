"""SQL for a person's live stream: what its snapshot counts, and which connected people
follow an author. Every statement walks an index for the rows it needs, never history."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from shared.models import Message, Room, RoomInvite, RoomMember, User, UserFollower
from shared.notifications import unread_statement

IDS_PER_STATEMENT = 500  # connected people per `followers_among` statement
UNREAD_CAP = 1000  # counts stop here: 1000 means "999+"


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


async def conversation_state(
    db: AsyncSession, *, user_id: int, room_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """INTERIM (until the read-marker helper's listing lands, see `snapshot.my_rooms`): per
    room, `unread` (capped), `read_seq` and `last_message`, as the issue 13 contract
    defines them: the room's message count minus the count at my marker minus my own
    messages after it (`ix_messages_room_id_user_id_seq`)."""
    if not room_ids:
        return {}
    last = aliased(Message, name="last")
    rows = await db.execute(
        select(
            Room.id,
            Room.message_count,
            RoomMember.read_seq,
            RoomMember.read_number,
            last.seq,
            last.user_id,
            User.username,
            last.content,
            last.created_at,
        )
        .join(RoomMember, and_(RoomMember.room_id == Room.id, RoomMember.user_id == user_id))
        .outerjoin(last, and_(last.room_id == Room.id, last.seq == Room.last_message_seq))
        .outerjoin(User, User.id == last.user_id)
        .where(Room.id.in_(room_ids))
    )
    state: dict[str, dict[str, Any]] = {}
    for row in rows:
        state[row[0]] = {
            "count": row.message_count - row.read_number,
            "read_seq": row.read_seq,
            "last_message": None
            if row.seq is None
            else {
                "id": row.seq,
                "user_id": row.user_id,
                "username": row.username,
                "preview": row.content[:100],
                "created_at": row.created_at,
            },
        }
    own = await db.execute(
        select(Message.room_id, func.count())
        .join(
            RoomMember,
            and_(RoomMember.room_id == Message.room_id, RoomMember.user_id == user_id),
        )
        .where(
            Message.room_id.in_(room_ids),
            Message.user_id == user_id,
            Message.seq > RoomMember.read_seq,
            Message.kind == "message",
        )
        .group_by(Message.room_id)
    )
    mine = {row[0]: row[1] for row in own}
    for room_id, fields in state.items():
        fields["unread"] = min(UNREAD_CAP, max(0, fields.pop("count") - mine.get(room_id, 0)))
    return state
