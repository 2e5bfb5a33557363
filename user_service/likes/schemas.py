from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict

from user_service.profiles.schemas import UserSummary


class Liker(UserSummary):
    """Someone who likes a post, and since when."""

    model_config = ConfigDict(from_attributes=True)

    liked_at: datetime
