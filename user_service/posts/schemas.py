from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.text import unstorable_reason

MAX_POST_LENGTH = 500


def _storable(content: str) -> str:
    """Trimmed, 1-500 characters, and text both databases can store (`shared.text`)."""
    content = content.strip()
    if not content:
        raise ValueError("content is empty")
    if len(content) > MAX_POST_LENGTH:
        raise ValueError(f"content is longer than {MAX_POST_LENGTH} characters")
    problem = unstorable_reason(content)
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
    model_config = ConfigDict(extra="forbid")

    content: PostContent


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    author_id: int
    author_username: str
    content: str
    created_at: datetime
