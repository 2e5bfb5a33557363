"""`POST /block`, `/unblock`, `/mute`, `/unmute`; `GET /blocks`, `GET /mutes`."""

from __future__ import annotations

from fastapi import APIRouter

from shared.deps import CurrentUser, DbSession
from shared.pagination import Cursor, Limit, Page
from user_service.blocks import service
from user_service.blocks.schemas import BlockedUser, BlockOut, MuteOut
from user_service.params import ToBlockId, ToMuteId, ToUnblockId, ToUnmuteId

router = APIRouter(tags=["blocks"])

_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "yourself"},
    404: {"description": "no such user"},
}


@router.post("/block", response_model=BlockOut, responses=_ERRORS)
async def block(to_block_id: ToBlockId, user: CurrentUser, db: DbSession) -> BlockOut:
    return await service.block(db, user=user, blocked_id=to_block_id, on=True)


@router.post("/unblock", response_model=BlockOut, responses=_ERRORS)
async def unblock(to_unblock_id: ToUnblockId, user: CurrentUser, db: DbSession) -> BlockOut:
    return await service.block(db, user=user, blocked_id=to_unblock_id, on=False)


@router.post("/mute", response_model=MuteOut, responses=_ERRORS)
async def mute(to_mute_id: ToMuteId, user: CurrentUser, db: DbSession) -> MuteOut:
    return await service.mute(db, user=user, muted_id=to_mute_id, on=True)


@router.post("/unmute", response_model=MuteOut, responses=_ERRORS)
async def unmute(to_unmute_id: ToUnmuteId, user: CurrentUser, db: DbSession) -> MuteOut:
    return await service.mute(db, user=user, muted_id=to_unmute_id, on=False)


@router.get("/blocks", response_model=Page[BlockedUser])
async def blocks(
    user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[BlockedUser]:
    return await service.listed(db, "block", user=user, cursor=cursor, limit=limit)


@router.get("/mutes", response_model=Page[BlockedUser])
async def mutes(
    user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[BlockedUser]:
    return await service.listed(db, "mute", user=user, cursor=cursor, limit=limit)
