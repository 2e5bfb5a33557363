"""`GET /feed`."""

from __future__ import annotations

from fastapi import APIRouter

from shared.deps import CurrentUser, DbSession
from shared.pagination import Cursor, Limit, Page
from user_service.feed import service
from user_service.posts.schemas import PostOut

router = APIRouter(tags=["feed"])


@router.get("/feed", response_model=Page[PostOut])
async def home_feed(
    user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[PostOut]:
    return await service.home_feed(db, user=user, cursor=cursor, limit=limit)
