"""Frame parsing and encoding: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from ws_service.connection.protocol import (
    MAX_CONTENT_CHARS,
    TYPING,
    FrameRefused,
    PostedMessage,
    StoredMessage,
    message_frame,
    parse_client_frame,
    ready_frame,
)


def test_a_message_frame_with_and_without_client_id() -> None:
    assert parse_client_frame('{"type": "message", "content": "hi"}') == PostedMessage("hi", None)
    assert parse_client_frame(
        '{"type": "message", "content": "hi", "client_id": "k1"}'
    ) == PostedMessage("hi", "k1")


@pytest.mark.parametrize("text", ["hello", "{not json", "123", '"quoted"', "[1, 2]", "null"])
def test_text_that_is_not_a_json_object_is_the_content(text: str) -> None:
    assert parse_client_frame(text) == PostedMessage(text, None)


@pytest.mark.parametrize(
    "frame",
    [
        {"content": "no type"},
        {"type": "ping"},
        {"type": "message"},
        {"type": "message", "content": 5},
        {"type": "message", "content": "x", "extra": 1},
        {"type": "message", "content": "x", "client_id": 7},
        {"type": "message", "content": "x", "client_id": ""},
        {"type": "message", "content": "x", "client_id": "k" * 65},
        {"type": "typing", "room_id": "r"},
    ],
)
def test_bad_shapes_are_refused_as_bad_frame(frame: dict[str, object]) -> None:
    with pytest.raises(FrameRefused) as refused:
        parse_client_frame(orjson.dumps(frame).decode())
    assert refused.value.code == "bad_frame"


@pytest.mark.parametrize("content", ["", "   ", "\n\t", "x" * (MAX_CONTENT_CHARS + 1)])
def test_empty_or_too_long_content_is_refused(content: str) -> None:
    for text in (content, orjson.dumps({"type": "message", "content": content}).decode()):
        if not text:
            continue
        with pytest.raises(FrameRefused) as refused:
            parse_client_frame(text)
        assert refused.value.code == "invalid_content"


@pytest.mark.parametrize(
    "frame",
    [
        "a\u0000b",
        {"type": "message", "content": "a\u0000b"},
        {"type": "message", "content": "bell \u0007"},
        {"type": "message", "content": "fine", "client_id": "k\u0000"},
        {"type": "message", "content": "fine", "client_id": "k\u001b[2J"},
    ],
)
def test_nul_and_control_characters_are_refused_as_invalid_content(
    frame: str | dict[str, object],
) -> None:
    """PostgreSQL cannot store NUL: refused alone, here, not by a commit other messages share."""
    text = frame if isinstance(frame, str) else orjson.dumps(frame).decode()
    with pytest.raises(FrameRefused) as refused:
        parse_client_frame(text)
    assert refused.value.code == "invalid_content"


def test_tabs_and_line_breaks_are_content() -> None:
    assert parse_client_frame("one\ttwo\r\nthree").content == "one\ttwo\r\nthree"


def test_content_of_exactly_the_limit_is_accepted() -> None:
    assert parse_client_frame("é" * MAX_CONTENT_CHARS).content == "é" * MAX_CONTENT_CHARS


def test_message_frame_fields_and_utc_timestamp() -> None:
    stored = StoredMessage(
        room_id="r",
        seq=3,
        user_id=7,
        username="ann",
        content="hi",
        client_id=None,
        created_at=datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
    )
    assert orjson.loads(message_frame(stored)) == {
        "type": "message",
        "id": 3,
        "room_id": "r",
        "user_id": 7,
        "username": "ann",
        "content": "hi",
        "created_at": "2030-01-02T03:04:05.600000Z",
        "client_id": None,
        "edited_at": None,
        "deleted": False,
    }


def test_ready_frame() -> None:
    assert orjson.loads(ready_frame(room_id="r", last_id=9, truncated=False)) == {
        "type": "ready",
        "room_id": "r",
        "last_id": 9,
        "truncated": False,
    }


def test_typing_is_a_frame_of_its_own() -> None:
    assert parse_client_frame('{"type": "typing"}') == TYPING
