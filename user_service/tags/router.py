"""`GET /tags/{tag}/posts`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from shared.deps import CurrentUser, DbSession
from shared.pagination import Cursor, Limit, Page
from user_service.posts.schemas import PostOut
from user_service.tags import service

router = APIRouter(tags=["tags"])

# What `#tag` in a post stores: letters (any script), digits and `_`, any case.
TagPath = Annotated[str, Path(pattern=r"^\w{1,100}$", description="a hashtag, without `#`")]


@router.get("/tags/{tag}/posts", response_model=Page[PostOut])
async def tag_posts(
    tag: TagPath, user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[PostOut]:
    return await service.tag_posts(db, viewer=user, tag=tag, cursor=cursor, limit=limit)
