"""The frames clients and the chat service exchange: parsing and encoding, pure functions.

Client -> server: `{"type": "message", "content": "...", "client_id": "optional key"}`, or
a plain text frame that is not a JSON object, taken whole as the content;
`{"type": "edit", "target": SEQ, "content": "..."}`, `{"type": "delete", "target": SEQ}`,
`{"type": "typing"}` and `{"type": "read", "up_to": SEQ}` (my read marker).
Server -> client: `message`, `edit`, `delete`, `join`, `leave`, `typing`, `account_gone`,
`error` and `ready` frames, JSON text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

from shared.text import text_problem

MAX_CONTENT_CHARS = 4000
MAX_CLIENT_ID_CHARS = 64
MAX_SEQ = 2**63 - 1  # a BIGINT

ErrorCode = Literal[
    "bad_frame", "invalid_content", "rate_limited", "unavailable", "not_found", "forbidden"
]
PresenceKind = Literal["join", "leave"]
# A row of a room's sequence: a message, or an event acting on an earlier message.
RowKind = Literal["message", "edit", "delete"]


class FrameRefused(Exception):
    """A client frame the server will not act on; the connection stays open."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code: ErrorCode = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """What a client asked to post, checked for shape and length."""

    content: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class PostedEvent:
    """An edit (`content` set) or a deletion (`content` None) of message `target`."""

    kind: Literal["edit", "delete"]
    target: int
    content: str | None


@dataclass(frozen=True, slots=True)
class Typing:
    """`{"type": "typing"}`: the sender is typing. Never stored."""


TYPING = Typing()


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """The client has seen the room up to `up_to` (a seq)."""

    up_to: int


ClientFrame = PostedMessage | PostedEvent | Typing | ReadRequest


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A row of a room's sequence as stored: `seq` is its per-room sequence number, the
    frame's `id`. A message (`kind` "message") in its current state (`edited_at`, `deleted`:
    a tombstone, content ""), or an edit or deletion of message `target`, by `user_id`.
    `user_id`/`username` are None once that account is deleted."""

    room_id: str
    seq: int
    user_id: int | None
    username: str | None
    content: str
    client_id: str | None
    created_at: datetime
    kind: RowKind = "message"
    target: int | None = None
    edited_at: datetime | None = None
    deleted: bool = False


def parse_client_frame(text: str) -> ClientFrame:
    """A JSON object must be a well-formed frame of a known type; any other text is the
    content of a message."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        raw = None
    if not isinstance(raw, dict):
        return PostedMessage(content=_checked_content(text), client_id=None)
    kind = raw.get("type")
    if kind == "typing":
        if len(raw) != 1:
            raise FrameRefused("bad_frame", 'expected {"type": "typing"}')
        return TYPING
    if kind == "read":
        return _read_request(raw)
    if kind == "edit" or kind == "delete":
        return _parse_event(raw, kind)
    if kind != "message" or not set(raw) <= {"type", "content", "client_id"}:
        raise FrameRefused("bad_frame", 'expected {"type": "message", "content", "client_id"?}')
    content = raw.get("content")
    if not isinstance(content, str):
        raise FrameRefused("bad_frame", "content must be a string")
    client_id = raw.get("client_id")
    if client_id is not None and (
        not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID_CHARS
    ):
        raise FrameRefused(
            "bad_frame", f"client_id must be a string of 1 to {MAX_CLIENT_ID_CHARS} characters"
        )
    if client_id is not None and (problem := text_problem(client_id)) is not None:
        raise FrameRefused("invalid_content", f"client_id {problem}")
    return PostedMessage(content=_checked_content(content), client_id=client_id)


def _read_request(raw: dict[str, Any]) -> ReadRequest:
    up_to = raw.get("up_to")
    # bool is an int subclass; `true` is no seq.
    if set(raw) != {"type", "up_to"} or type(up_to) is not int or not 0 <= up_to <= MAX_SEQ:
        raise FrameRefused("bad_frame", 'expected {"type": "read", "up_to": a seq (0 or more)}')
    return ReadRequest(up_to=up_to)


def _parse_event(raw: dict[str, Any], kind: Literal["edit", "delete"]) -> PostedEvent:
    fields = {"type", "target", "content"} if kind == "edit" else {"type", "target"}
    if set(raw) != fields:
        shape = '"target", "content"' if kind == "edit" else '"target"'
        raise FrameRefused("bad_frame", f'expected {{"type": "{kind}", {shape}}}')
    target = raw["target"]
    if type(target) is not int or not 1 <= target <= MAX_SEQ:  # bool is an int subclass
        raise FrameRefused("bad_frame", "target must be a message id (a positive integer)")
    if kind == "delete":
        return PostedEvent(kind=kind, target=target, content=None)
    content = raw["content"]
    if not isinstance(content, str):
        raise FrameRefused("bad_frame", "content must be a string")
    return PostedEvent(kind=kind, target=target, content=_checked_content(content))


def _checked_content(content: str) -> str:
    if not content.strip():
        raise FrameRefused("invalid_content", "content is empty")
    if len(content) > MAX_CONTENT_CHARS:
        raise FrameRefused(
            "invalid_content", f"content is longer than {MAX_CONTENT_CHARS} characters"
        )
    problem = text_problem(content, multiline=True, visible=True)
    if problem is not None:
        raise FrameRefused("invalid_content", f"content {problem}")
    return content


def encode(frame: dict[str, Any]) -> bytes:
    """JSON bytes; datetimes as RFC 3339 with `Z`, as the HTTP API writes them."""
    return orjson.dumps(frame, option=orjson.OPT_UTC_Z)


def message_fields(message: StoredMessage) -> dict[str, Any]:
    """The client frame of a row: a `message`, or an `edit` (its `edited_at` is when the
    edit was made) or `delete` event of message `target`."""
    if message.kind == "edit":
        return {
            "type": "edit",
            "id": message.seq,
            "room_id": message.room_id,
            "target": message.target,
            "user_id": message.user_id,
            "content": message.content,
            "edited_at": message.created_at,
        }
    if message.kind == "delete":
        return {
            "type": "delete",
            "id": message.seq,
            "room_id": message.room_id,
            "target": message.target,
            "user_id": message.user_id,
            "created_at": message.created_at,
        }
    return {
        "type": "message",
        "id": message.seq,
        "room_id": message.room_id,
        "user_id": message.user_id,
        "username": message.username,
        "content": message.content,
        "created_at": message.created_at,
        "client_id": message.client_id,
        "edited_at": message.edited_at,
        "deleted": message.deleted,
    }


def message_frame(message: StoredMessage) -> bytes:
    return encode(message_fields(message))


def account_gone_frame(*, room_id: str, user_id: int) -> bytes:
    """The author's account is gone: clients turn that user's messages into tombstones."""
    return encode({"type": "account_gone", "room_id": room_id, "user_id": user_id})


def presence_frame(kind: PresenceKind, *, room_id: str, user_id: int, username: str) -> bytes:
    return encode({"type": kind, "room_id": room_id, "user_id": user_id, "username": username})


def typing_frame(*, room_id: str, user_id: int, username: str) -> bytes:
    return encode({"type": "typing", "room_id": room_id, "user_id": user_id, "username": username})


def error_frame(code: ErrorCode, detail: str) -> bytes:
    return encode({"type": "error", "code": code, "detail": detail})


def ready_frame(*, room_id: str, last_id: int, truncated: bool) -> bytes:
    """Sent once history has been sent. `truncated`: more messages were missed than a resume
    sends, and only the newest were sent."""
    return encode({"type": "ready", "room_id": room_id, "last_id": last_id, "truncated": truncated})
