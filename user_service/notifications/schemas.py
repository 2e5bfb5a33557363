from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from user_service.posts.schemas import PostOut, UserRef

NotificationKind = Literal["follow", "like", "repost", "reply", "mention"]


class NotificationOut(BaseModel):
    """`actor` did `kind`: followed you, liked or reposted `post` (yours), or wrote `post`
    (a reply to yours, or one that mentions you). A like's `post.likes` says how many
    people like it in all ("alice and 3 others")."""

    id: int
    kind: NotificationKind
    actor: UserRef
    post: PostOut | None
    created_at: datetime
    unread: bool


class UnreadOut(BaseModel):
    """Notifications above the read mark, counted up to 1,000 (a badge shows "999+")."""

    unread: int


class ReadOut(BaseModel):
    read_up_to: int
    unread: int
