"""`POST|DELETE /posts/{id}/like` and `GET /posts/{id}/likes`."""

from __future__ import annotations

from fastapi import APIRouter

from shared.deps import CurrentClaims, CurrentUser, DbSession, StatementDb
from shared.pagination import Cursor, Limit, Page
from user_service.likes import service
from user_service.likes.schemas import Liker
from user_service.params import PostIdPath
from user_service.posts.schemas import PostOut

router = APIRouter(tags=["likes"])


@router.post(
    "/posts/{post_id}/like",
    response_model=PostOut,
    responses={403: {"description": "a block stands between you and the post's author"}, 404: {}},
)
async def like(post_id: PostIdPath, db: StatementDb, claims: CurrentClaims) -> PostOut:
    return await service.like(db, claims=claims, post_id=post_id)


@router.delete("/posts/{post_id}/like", response_model=PostOut, responses={404: {}})
async def unlike(post_id: PostIdPath, db: StatementDb, claims: CurrentClaims) -> PostOut:
    return await service.unlike(db, claims=claims, post_id=post_id)


@router.get("/posts/{post_id}/likes", response_model=Page[Liker], responses={404: {}})
async def likers(
    post_id: PostIdPath, _user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[Liker]:
    return await service.likers(db, post_id=post_id, cursor=cursor, limit=limit)
