from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


class PostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    author_id: int
    author_username: str
    content: str
    created_at: datetime
