from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.pagination import MAX_ID, Page
from shared.text import text_problem

MAX_POST_LENGTH = 500


def _storable(content: str) -> str:
    """Trimmed, 1-500 characters, and text both databases store and people can see."""
    content = content.strip()
    if not content:
        raise ValueError("content is empty")
    if len(content) > MAX_POST_LENGTH:
        raise ValueError(f"content is longer than {MAX_POST_LENGTH} characters")
    problem = text_problem(content, multiline=True, visible=True)
    if problem is not None:
        raise ValueError(f"content {problem}")
    return content


PostContent = Annotated[
    str,
    # A cheap bound before trimming, so a megabyte of spaces is refused without work.
    Field(max_length=10 * MAX_POST_LENGTH),
    AfterValidator(_storable),
]


class PostIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"content": "hello from alice"}]}
    )

    content: PostContent
    in_reply_to: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None


class UserRef(BaseModel):
    id: int
    username: str


class Mention(BaseModel):
    """`@username` at content[start:end] (Unicode code points, the `@` included)."""

    user_id: int
    username: str
    start: int
    end: int


class PostOut(BaseModel):
    """A post as anyone sees it, with its counts and, for the caller, whether they liked
    and reposted it. In a timeline a repost shows as the post it reposts, with
    `reposted_by` and `reposted_at` set."""

    id: int
    author_id: int
    author_username: str
    content: str
    created_at: datetime
    in_reply_to: int | None = None
    replies: int = 0
    likes: int = 0
    reposts: int = 0
    liked: bool = False
    reposted: bool = False
    mentions: list[Mention] = []
    reposted_by: UserRef | None = None
    reposted_at: datetime | None = None


class TombstoneOut(BaseModel):
    """Where a deleted post sat in its thread: its replies stay."""

    id: int
    deleted: Literal[True] = True
    in_reply_to: int | None


class ThreadOut(BaseModel):
    """`ancestors` root first (at most `MAX_ANCESTORS`, the nearest), the post itself, and
    a page of its direct replies, oldest first (deleted ones as tombstones)."""

    ancestors: list[PostOut | TombstoneOut]
    post: PostOut | TombstoneOut
    replies: Page[PostOut | TombstoneOut]
