from __future__ import annotations

import base64

import pytest

from shared.pagination import InvalidCursor, decode_cursor, encode_cursor


def test_cursor_round_trips() -> None:
    assert decode_cursor(encode_cursor(42), int) == (42,)
    assert decode_cursor(encode_cursor(2**63 - 1), int) == (2**63 - 1,)
    assert decode_cursor(encode_cursor(7, "room-a"), int, str) == (7, "room-a")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "not-base64-json",
        base64.urlsafe_b64encode(b'{"id": 1}').decode(),
        encode_cursor("1"),  # a string where an int belongs
        encode_cursor(0),
        encode_cursor(-5),
        encode_cursor(True),
        encode_cursor(1, 2),
        encode_cursor(2**63),  # beyond BIGINT: the driver would overflow
    ],
)
def test_tampered_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as info:
        decode_cursor(cursor, int)
    assert info.value.status_code == 422
