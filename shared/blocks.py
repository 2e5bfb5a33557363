"""Blocks as every service reads them: a block stands between two people whoever made it
(no follows, posts, direct messages or invitations either way)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, and_, bindparam, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import UserBlock

_ONE = bindparam("block_user_id", type_=BigInteger)
_OTHER = bindparam("block_other_id", type_=BigInteger)
# Built once: every follow, post page of an author and invitation asks it.
_BLOCKED_EITHER_WAY = (
    select(UserBlock.blocker_id)
    .where(
        or_(
            and_(UserBlock.blocker_id == _ONE, UserBlock.blocked_id == _OTHER),
            and_(UserBlock.blocker_id == _OTHER, UserBlock.blocked_id == _ONE),
        )
    )
    .limit(1)
)


async def blocked_either_way(db: AsyncSession, *, user_id: int, other_id: int) -> bool:
    """Two primary-key probes of `user_blocks`."""
    values = {_ONE.key: user_id, _OTHER.key: other_id}
    return await db.scalar(_BLOCKED_EITHER_WAY, values) is not None


def blocked_either_way_ids(user_id: int | ColumnElement[int]) -> Select[Any]:
    """The ids of everyone `user_id` blocked or was blocked by (the primary key and
    `ix_user_blocks_blocked_id_blocker_id`)."""
    return select(
        union_all(
            select(UserBlock.blocked_id.label("id")).where(UserBlock.blocker_id == user_id),
            select(UserBlock.blocker_id.label("id")).where(UserBlock.blocked_id == user_id),
        ).subquery("blocked_either_way")
    )
