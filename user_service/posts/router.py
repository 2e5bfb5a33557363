"""`POST /posts`, `GET|DELETE /posts/{id}`, `GET /posts/{id}/thread` and
`GET /users/{id}/posts`."""

from __future__ import annotations

from fastapi import APIRouter, status

from shared.deps import CurrentUser, DbSession
from shared.pagination import Cursor, Limit, Page
from user_service.params import PostIdPath, UserIdPath
from user_service.posts import service
from user_service.posts.schemas import PostIn, PostOut, ThreadOut

router = APIRouter(tags=["posts"])


@router.post(
    "/posts",
    status_code=status.HTTP_201_CREATED,
    response_model=PostOut,
    responses={
        403: {"description": "a block stands between you and the author of `in_reply_to`"},
        404: {"description": "`in_reply_to` names no post"},
    },
)
async def create_post(body: PostIn, user: CurrentUser, db: DbSession) -> PostOut:
    return await service.create_post(
        db, author=user, content=body.content, in_reply_to=body.in_reply_to
    )


@router.get("/posts/{post_id}", response_model=PostOut, responses={404: {}})
async def get_post(post_id: PostIdPath, user: CurrentUser, db: DbSession) -> PostOut:
    return await service.get_post(db, viewer_id=user.id, post_id=post_id)


@router.delete(
    "/posts/{post_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {"description": "not the author"}, 404: {}},
)
async def delete_post(post_id: PostIdPath, user: CurrentUser, db: DbSession) -> None:
    await service.delete_post(db, user=user, post_id=post_id)


@router.get("/posts/{post_id}/thread", response_model=ThreadOut, responses={404: {}})
async def thread(
    post_id: PostIdPath,
    user: CurrentUser,
    db: DbSession,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ThreadOut:
    return await service.thread(db, viewer=user, post_id=post_id, cursor=cursor, limit=limit)


@router.get("/users/{user_id}/posts", response_model=Page[PostOut], responses={404: {}})
async def author_posts(
    user_id: UserIdPath,
    user: CurrentUser,
    db: DbSession,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Page[PostOut]:
    return await service.author_posts(
        db, viewer=user, author_id=user_id, cursor=cursor, limit=limit
    )
