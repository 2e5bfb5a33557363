"""Block and mute rules. Both are idempotent and nobody blocks or mutes themselves. A block
also ends follows both ways, and while it stands no follow is made either way
(`refuse_if_blocked`), neither sees the other's posts in feeds or post lists, and the chat
service refuses direct messages and invitations between them. A mute only takes the muted
person's posts out of the muter's feed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shared.blocks import blocked_either_way
from shared.errors import BadRequest, Forbidden
from shared.pagination import Page, decode_id_cursor, keyset_page
from shared.sessions import SessionUser
from user_service.accounts.service import require_user
from user_service.blocks import queries
from user_service.blocks.schemas import BlockedUser, BlockOut, MuteOut
from user_service.follows.queries import delete_follows_between


async def _set(
    db: AsyncSession, kind: queries.Kind, *, user: SessionUser, target_id: int, on: bool
) -> datetime | None:
    """The pair's created_at after the change (None once removed); 400 for yourself, 404
    for an unknown user."""
    if target_id == user.id:
        raise BadRequest(f"you cannot {'' if on else 'un'}{kind} yourself")
    await require_user(db, user_id=target_id)
    if not on:
        await queries.delete_pair(db, kind, owner_id=user.id, target_id=target_id)
        return None
    await queries.insert_pair(db, kind, owner_id=user.id, target_id=target_id)
    return await queries.pair_created_at(db, kind, owner_id=user.id, target_id=target_id)


async def block(db: AsyncSession, *, user: SessionUser, blocked_id: int, on: bool) -> BlockOut:
    created_at = await _set(db, "block", user=user, target_id=blocked_id, on=on)
    if on:
        await delete_follows_between(db, user_id=user.id, other_id=blocked_id)
    return BlockOut(blocker_id=user.id, blocked_id=blocked_id, blocking=on, created_at=created_at)


async def mute(db: AsyncSession, *, user: SessionUser, muted_id: int, on: bool) -> MuteOut:
    created_at = await _set(db, "mute", user=user, target_id=muted_id, on=on)
    return MuteOut(muter_id=user.id, muted_id=muted_id, muting=on, created_at=created_at)


async def listed(
    db: AsyncSession, kind: queries.Kind, *, user: SessionUser, cursor: str | None, limit: int
) -> Page[BlockedUser]:
    """A page of whom I blocked or muted, most recent accounts first."""
    before = decode_id_cursor(cursor)
    rows = await queries.pair_list(db, kind, owner_id=user.id, before=before, limit=limit)
    return keyset_page(rows, limit=limit, item=BlockedUser.model_validate, key=lambda r: (r.id,))


ACROSS_A_BLOCK = "a block stands between you and this user"


async def refuse_if_blocked(db: AsyncSession, *, user_id: int, other_id: int) -> None:
    """403 while either of the two blocked the other."""
    if await blocked_either_way(db, user_id=user_id, other_id=other_id):
        raise Forbidden(ACROSS_A_BLOCK)
