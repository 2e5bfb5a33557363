from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.text import VISIBLE_CONTENT
from ws_service.connection.protocol import MAX_CONTENT_CHARS, StoredMessage

# The rules of a `message` frame's content (not trimmed; something visible; no controls
# but tab and line breaks).
Content = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CONTENT_CHARS), *VISIBLE_CONTENT
]


class MessageOut(BaseModel):
    """A message in its current state, as the socket's `message` frame carries it: a
    tombstone (`deleted`) has content "", and user_id/username null once the author's
    account is gone."""

    type: Literal["message"] = "message"
    id: int
    room_id: str
    user_id: int | None
    username: str | None
    content: str
    created_at: datetime
    client_id: str | None
    edited_at: datetime | None
    deleted: bool

    @classmethod
    def of(cls, message: StoredMessage) -> MessageOut:
        return cls(
            id=message.seq,
            room_id=message.room_id,
            user_id=message.user_id,
            username=message.username,
            content=message.content,
            created_at=message.created_at,
            client_id=message.client_id,
            edited_at=message.edited_at,
            deleted=message.deleted,
        )


class EditIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"content": "fixed the typo"}]}
    )

    content: Content
