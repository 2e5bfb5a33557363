from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# What `GET /users?q=` accepts: the start of a username (usernames are 3-32 of these).
UsernamePrefix = Annotated[
    str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")
]


class UserSummary(BaseModel):
    """What anyone may see of a user: never the email address."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    created_at: datetime


class ProfileOut(UserSummary):
    followers: int
    following: int
    posts: int
    # Where the caller stands with this user (all false on one's own profile), so that a
    # client need not page through follow, block or mute lists to draw its buttons.
    followed_by_me: bool = Field(description="the caller follows this user")
    follows_me: bool = Field(description="this user follows the caller")
    blocking: bool = Field(description="the caller blocked this user")
    blocked_by: bool = Field(description="this user blocked the caller")
    muting: bool = Field(description="the caller muted this user")
