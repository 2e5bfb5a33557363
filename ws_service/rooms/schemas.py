from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.text import VISIBLE_CONTENT, VISIBLE_NAME

RoomId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]
RoomName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), *VISIBLE_NAME
]
BanReason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), *VISIBLE_CONTENT
]
Kind = Literal["public", "private", "direct"]
Role = Literal["owner", "moderator", "member"]


class CreateRoomIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "General", "id": "general"}, {"name": "Ideas"}]},
    )

    name: RoomName
    id: RoomId | None = None
    private: bool = False  # members only, by invitation


class RoomOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str  # a direct room is named after the other person ("deleted account" once gone)
    created_by: int | None
    created_at: datetime
    kind: Kind = "public"
    peer_id: int | None = None  # a direct room's other person


class RoomListItem(RoomOut):
    online: int  # users connected now, over all instances
    member: bool  # the caller is a member
    role: Role | None  # the caller's role


class LastMessage(BaseModel):
    id: int  # its seq
    user_id: int | None  # None once the author's account is gone
    username: str | None
    preview: str  # the first 100 characters on one line; "" for a deleted message
    created_at: datetime
    deleted: bool  # a tombstone


class MyRoomItem(RoomListItem):
    """A room in the caller's own list (`getRooms?mine=true`), with their reading state."""

    unread: int  # messages after my marker not sent by me; exact up to 999, 1000 means "999+"
    read_seq: int  # my read marker
    last_message: LastMessage | None


class RoomDetail(RoomListItem):
    members: int
    # The caller's reading state; the counts are None for a public room they are not in.
    unread: int | None = None
    read_seq: int | None = None
    last_message: LastMessage | None = None


class ReadOut(BaseModel):
    room_id: str
    read_seq: int
    unread: int


class ClientOut(BaseModel):
    user_id: int
    username: str


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    username: str
    role: Role
    joined_at: datetime


class RoleIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"role": "moderator"}, {"role": "member"}]},
    )

    role: Literal["moderator", "member"]


class InviteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    room_id: str
    room_name: str
    inviter_id: int | None  # None once the inviter's account is gone
    inviter_username: str | None
    created_at: datetime


class BanIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "spam"}, {}]}
    )

    reason: BanReason | None = None


class BanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    username: str
    banned_by: int | None  # None once the banner's account is gone
    banned_by_username: str | None
    reason: str | None
    created_at: datetime
