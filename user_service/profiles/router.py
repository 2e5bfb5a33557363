"""`GET /users?q=` and `GET /users/{id}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shared.deps import CurrentUser, DbSession
from shared.pagination import Cursor, Limit, Page
from user_service.params import UserIdPath
from user_service.profiles import service
from user_service.profiles.schemas import ProfileOut, UsernamePrefix, UserSummary

router = APIRouter(tags=["profiles"])


@router.get("/users", response_model=Page[UserSummary])
async def search_users(
    _user: CurrentUser,
    db: DbSession,
    q: Annotated[UsernamePrefix, Query(description="the start of a username, any case")],
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[UserSummary]:
    return await service.search_users(db, prefix=q, cursor=cursor, limit=limit)


@router.get("/users/{user_id}", response_model=ProfileOut, responses={404: {}})
async def get_profile(user_id: UserIdPath, user: CurrentUser, db: DbSession) -> ProfileOut:
    return await service.get_profile(db, user_id=user_id, viewer_id=user.id)
