from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from user_service.profiles.schemas import UserSummary


class FollowOut(BaseModel):
    follower_id: int
    following_id: int
    following: Literal[True] = True
    created_at: datetime


class UnfollowOut(BaseModel):
    follower_id: int
    following_id: int
    following: Literal[False] = False


class FollowEntry(UserSummary):
    """A user in someone's followers or following list, and since when."""

    model_config = ConfigDict(from_attributes=True)

    followed_at: datetime
