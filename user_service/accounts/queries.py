"""SQL on `users` for existence checks and deletion."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import User


async def user_exists(db: AsyncSession, *, user_id: int) -> bool:
    """One primary-key lookup."""
    return await db.scalar(select(User.id).where(User.id == user_id)) is not None


async def delete_user(db: AsyncSession, *, user_id: int) -> bool:
    """Deletes the user row; the foreign keys cascade to their sessions, follows in both
    directions, posts, chat messages, blocks, mutes, room memberships and invitations, and
    set `rooms.created_by`, `room_bans.banned_by` and `room_invites.inviter_id` to NULL.
    True when a row was deleted (False when a concurrent deletion got there first)."""
    result = await db.execute(delete(User).where(User.id == user_id))
    return bool(getattr(result, "rowcount", 0))
