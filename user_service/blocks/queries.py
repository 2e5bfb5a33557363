"""SQL on `user_blocks` and `user_mutes`: two tables of the same shape (owner, target,
created_at), whose primary key (owner, target) serves "whom did X block/mute"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.blocks import blocked_either_way_ids
from shared.database import insert_unless_present
from shared.models import User, UserBlock, UserMute, utcnow
from shared.pagination import AnyRow, AnySelect

Kind = Literal["block", "mute"]


@dataclass(frozen=True, slots=True)
class _PairTable:
    model: type[UserBlock] | type[UserMute]
    owner: InstrumentedAttribute[int]
    target: InstrumentedAttribute[int]
    created_at: InstrumentedAttribute[datetime]


_TABLES: dict[Kind, _PairTable] = {
    "block": _PairTable(
        UserBlock, UserBlock.blocker_id, UserBlock.blocked_id, UserBlock.created_at
    ),
    "mute": _PairTable(UserMute, UserMute.muter_id, UserMute.muted_id, UserMute.created_at),
}


async def insert_pair(db: AsyncSession, kind: Kind, *, owner_id: int, target_id: int) -> None:
    """Idempotent, also under concurrent identical requests."""
    table = _TABLES[kind]
    values: dict[str, Any] = {
        table.owner.key: owner_id,
        table.target.key: target_id,
        "created_at": utcnow(),
    }
    await db.execute(
        insert_unless_present(db, table.model, values, key=[table.owner, table.target])
    )


async def pair_created_at(
    db: AsyncSession, kind: Kind, *, owner_id: int, target_id: int
) -> datetime | None:
    table = _TABLES[kind]
    created_at: datetime | None = await db.scalar(
        select(table.created_at).where(table.owner == owner_id, table.target == target_id)
    )
    return created_at


async def delete_pair(db: AsyncSession, kind: Kind, *, owner_id: int, target_id: int) -> None:
    table = _TABLES[kind]
    await db.execute(delete(table.model).where(table.owner == owner_id, table.target == target_id))


async def pair_list(
    db: AsyncSession, kind: Kind, *, owner_id: int, before: int | None, limit: int
) -> Sequence[AnyRow]:
    """Whom `owner_id` blocked or muted, by their id descending, at most `limit + 1` rows: a
    backward range scan of the primary key, each name by the users' primary key."""
    table = _TABLES[kind]
    statement = (
        select(User.id, User.username, User.created_at, table.created_at.label("since"))
        .join(User, User.id == table.target)
        .where(table.owner == owner_id)
    )
    if before is not None:
        statement = statement.where(table.target < before)
    statement = statement.order_by(table.target.desc()).limit(limit + 1)
    return (await db.execute(statement)).all()


def muted_ids(user_id: int | ColumnElement[int]) -> Any:
    """Whom `user_id` muted (the primary key)."""
    return select(UserMute.muted_id).where(UserMute.muter_id == user_id)


def hidden_authors(user_id: int | ColumnElement[int]) -> AnySelect:
    """Authors whose posts `user_id` does not want in their lists (the feed, tag pages,
    others' reposts, replies in a thread): everyone they muted, and anyone a block stands
    between, either way. Primary-key and `ix_user_blocks_blocked_id_blocker_id` reads."""
    return select(union_all(blocked_either_way_ids(user_id), muted_ids(user_id)).subquery("hidden"))
