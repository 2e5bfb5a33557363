"""`POST /follow`, `POST /unfollow`, `GET /users/{id}/followers` and `.../following`."""

from __future__ import annotations

from fastapi import APIRouter

from shared.deps import CurrentClaims, CurrentUser, DbSession, StatementDb
from shared.pagination import Cursor, Limit, Page
from user_service.follows import service
from user_service.follows.schemas import FollowEntry, FollowOut, UnfollowOut
from user_service.params import ToFollowId, ToUnfollowId, UserIdPath

router = APIRouter(tags=["follows"])


@router.post(
    "/follow",
    response_model=FollowOut,
    responses={
        400: {"description": "following yourself"},
        403: {"description": "a block stands between you"},
        404: {},
    },
)
async def follow(to_follow_id: ToFollowId, db: StatementDb, claims: CurrentClaims) -> FollowOut:
    return await service.follow(db, claims=claims, following_id=to_follow_id)


@router.post(
    "/unfollow",
    response_model=UnfollowOut,
    responses={400: {"description": "unfollowing yourself"}, 404: {}},
)
async def unfollow(
    to_unfollow_id: ToUnfollowId, db: StatementDb, claims: CurrentClaims
) -> UnfollowOut:
    return await service.unfollow(db, claims=claims, following_id=to_unfollow_id)


@router.get("/users/{user_id}/followers", response_model=Page[FollowEntry], responses={404: {}})
async def followers(
    user_id: UserIdPath,
    _user: CurrentUser,
    db: DbSession,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[FollowEntry]:
    return await service.follow_list(
        db, direction="followers", user_id=user_id, cursor=cursor, limit=limit
    )


@router.get("/users/{user_id}/following", response_model=Page[FollowEntry], responses={404: {}})
async def following(
    user_id: UserIdPath,
    _user: CurrentUser,
    db: DbSession,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[FollowEntry]:
    return await service.follow_list(
        db, direction="following", user_id=user_id, cursor=cursor, limit=limit
    )
