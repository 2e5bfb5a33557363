"""SQL for rooms."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Room

LAST_SEQS_BATCH = 500  # room ids per `last_seqs` statement


async def insert_room(db: AsyncSession, *, room_id: str, name: str, created_by: int) -> Room:
    room = Room(id=room_id, name=name, created_by=created_by, last_seq=0)
    db.add(room)
    await db.flush()
    return room


async def room_exists(db: AsyncSession, *, room_id: str) -> bool:
    return await db.scalar(select(Room.id).where(Room.id == room_id)) is not None


async def last_seq(db: AsyncSession, *, room_id: str) -> int | None:
    """The room's last sequence number handed out; None for an unknown room."""
    value: int | None = await db.scalar(select(Room.last_seq).where(Room.id == room_id))
    return value


async def rooms_after(db: AsyncSession, *, after_id: str | None, limit: int) -> list[Room]:
    """Rooms in id order, starting after `after_id` (keyset paging)."""
    query = select(Room).order_by(Room.id).limit(limit)
    if after_id is not None:
        query = query.where(Room.id > after_id)
    return list(await db.scalars(query))


async def last_seqs(db: AsyncSession, *, room_ids: Sequence[str]) -> dict[str, int]:
    """The last sequence number of each of these rooms (unknown rooms are left out), a
    batch of ids per statement: how hubs notice messages stored but never broadcast."""
    heads: dict[str, int] = {}
    for start in range(0, len(room_ids), LAST_SEQS_BATCH):
        batch = room_ids[start : start + LAST_SEQS_BATCH]
        rows = await db.execute(select(Room.id, Room.last_seq).where(Room.id.in_(batch)))
        heads.update({row.id: row.last_seq for row in rows})
    return heads
