from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from user_service.profiles.schemas import UserSummary


class BlockOut(BaseModel):
    blocker_id: int
    blocked_id: int
    blocking: bool
    created_at: datetime | None = None  # since when, while blocking


class MuteOut(BaseModel):
    muter_id: int
    muted_id: int
    muting: bool
    created_at: datetime | None = None  # since when, while muting


class BlockedUser(UserSummary):
    """Someone in my blocks or mutes list, and since when."""

    model_config = ConfigDict(from_attributes=True)

    since: datetime
