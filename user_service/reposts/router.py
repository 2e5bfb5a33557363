"""`POST|DELETE /posts/{id}/repost`."""

from __future__ import annotations

from fastapi import APIRouter

from shared.deps import CurrentUser, DbSession
from user_service.params import PostIdPath
from user_service.posts.schemas import PostOut
from user_service.reposts import service

router = APIRouter(tags=["reposts"])


@router.post(
    "/posts/{post_id}/repost",
    response_model=PostOut,
    responses={403: {"description": "a block stands between you and the post's author"}, 404: {}},
)
async def repost(post_id: PostIdPath, user: CurrentUser, db: DbSession) -> PostOut:
    return await service.repost(db, user=user, post_id=post_id)


@router.delete("/posts/{post_id}/repost", response_model=PostOut, responses={404: {}})
async def unrepost(post_id: PostIdPath, user: CurrentUser, db: DbSession) -> PostOut:
    return await service.unrepost(db, user=user, post_id=post_id)
