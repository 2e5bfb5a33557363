"""`GET /notifications`, `GET /notifications/unread`, `POST /notifications/read`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shared.deps import CurrentUser, DbSession
from shared.pagination import MAX_ID, Cursor, Limit, Page
from user_service.notifications import service
from user_service.notifications.schemas import NotificationOut, ReadOut, UnreadOut

router = APIRouter(tags=["notifications"])

UpTo = Annotated[
    int | None,
    Query(alias="upTo", ge=0, le=MAX_ID, description="the newest notification id read"),
]


@router.get("/notifications", response_model=Page[NotificationOut])
async def notifications(
    user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[NotificationOut]:
    return await service.inbox(db, user=user, cursor=cursor, limit=limit)


@router.get("/notifications/unread", response_model=UnreadOut)
async def unread(user: CurrentUser, db: DbSession) -> UnreadOut:
    return await service.unread(db, user=user)


@router.post("/notifications/read", response_model=ReadOut)
async def mark_read(user: CurrentUser, db: DbSession, up_to: UpTo = None) -> ReadOut:
    return await service.mark_read(db, user=user, up_to=up_to)
