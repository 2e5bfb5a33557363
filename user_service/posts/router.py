"""`POST /posts`, `GET|DELETE /posts/{id}` and `GET /users/{id}/posts`."""

from __future__ import annotations

from fastapi import APIRouter, status

from shared.deps import CurrentUser, DbSession
from shared.pagination import Cursor, Limit, Page
from user_service.params import PostIdPath, UserIdPath
from user_service.posts import service
from user_service.posts.schemas import PostIn, PostOut

router = APIRouter(tags=["posts"])


@router.post("/posts", status_code=status.HTTP_201_CREATED, response_model=PostOut)
async def create_post(body: PostIn, user: CurrentUser, db: DbSession) -> PostOut:
    return await service.create_post(db, author=user, content=body.content)


@router.get("/posts/{post_id}", response_model=PostOut, responses={404: {}})
async def get_post(post_id: PostIdPath, _user: CurrentUser, db: DbSession) -> PostOut:
    return await service.get_post(db, post_id=post_id)


@router.delete(
    "/posts/{post_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={403: {"description": "not the author"}, 404: {}},
)
async def delete_post(post_id: PostIdPath, user: CurrentUser, db: DbSession) -> None:
    await service.delete_post(db, user=user, post_id=post_id)


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
