from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.text import VISIBLE_NAME

RoomId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]
RoomName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), *VISIBLE_NAME
]


class CreateRoomIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: RoomName
    id: RoomId | None = None


class RoomOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_by: int | None
    created_at: datetime


class RoomListItem(RoomOut):
    online: int  # users connected now, over all instances


class ClientOut(BaseModel):
    user_id: int
    username: str
