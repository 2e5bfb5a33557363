"""Unread counts and last-message previews as plain rules over the counters the store keeps,
tested without a server.

unread = rooms.message_count - member.read_number - my messages after member.read_seq.
`message_count` and `number` count `message` rows ever stored: a deleted message (a
tombstone) still counts, edit and delete events never do.
"""

from __future__ import annotations

from typing import Any

from ws_service.connection.protocol import StoredMessage
from ws_service.rooms.queries import MINE_COUNT_CAP
from ws_service.rooms.schemas import LastMessage

# Counts above this are shown as UNREAD_MANY ("999+"): a badge needs no more precision.
UNREAD_EXACT_MAX = 999
UNREAD_MANY = UNREAD_EXACT_MAX + 1
PREVIEW_CHARS = 100

assert MINE_COUNT_CAP > UNREAD_EXACT_MAX  # else a capped count could pass as exact


def unread_count(*, message_count: int, read_number: int, mine_after: int) -> int:
    """Messages after the marker not sent by the reader, 0..UNREAD_MANY (UNREAD_MANY: more
    than UNREAD_EXACT_MAX). `mine_after` is counted up to MINE_COUNT_CAP: past it the
    result is an upper bound."""
    after = max(message_count - read_number, 0)
    return min(max(after - mine_after, 0), UNREAD_MANY)


def preview(content: str) -> str:
    """The first PREVIEW_CHARS characters on one line: every run of whitespace (line breaks
    included) becomes one space."""
    return " ".join(content.split())[:PREVIEW_CHARS]


def last_message_of(message: StoredMessage) -> LastMessage:
    """A message just stored (or read), as a room's last message."""
    return LastMessage(
        id=message.seq,
        user_id=message.user_id,
        username=message.username,
        preview="" if message.deleted else preview(message.content),
        created_at=message.created_at,
        deleted=message.deleted,
    )


def last_message(row: Any) -> LastMessage | None:
    """From a row with the `last_*` columns of `queries.my_rooms_by_activity` (None: the room
    has no message yet). A tombstone keeps its id and time, with an empty preview."""
    if row.last_message_id is None:
        return None
    deleted = bool(row.last_deleted)
    return LastMessage(
        id=row.last_message_id,
        user_id=row.last_user_id,
        username=row.last_username,
        preview="" if deleted else preview(row.last_content),
        created_at=row.last_created_at,
        deleted=deleted,
    )
