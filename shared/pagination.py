"""Keyset pagination: opaque cursors and the page shape every list endpoint returns.

A cursor holds the sort key of the last item served; the next page starts strictly after it,
so pages neither skip nor repeat items while new ones are added at the head.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel

from shared.errors import GoChatError
from shared.text import text_problem

CursorValue = int | str
# The largest key a BIGINT column holds; a cursor beyond it can only be forged, and would
# overflow the database driver (a 500) rather than be refused.
MAX_CURSOR_INT = 2**63 - 1


class InvalidCursor(GoChatError):
    status_code = 422
    default_detail = "invalid cursor"


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(*key: CursorValue) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).rstrip(b"=").decode()


def decode_cursor(cursor: str, *types: type[CursorValue]) -> tuple[CursorValue, ...]:
    """The key, checked against the expected types (ints must be positive 64-bit, strings
    free of control characters, as a database can compare them); else 422."""
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidCursor() from None
    if not isinstance(raw, list) or len(raw) != len(types):
        raise InvalidCursor()
    for value, expected in zip(raw, types, strict=True):
        # bool is an int subclass; a cursor never holds one.
        if (
            type(value) is not expected
            or (isinstance(value, int) and not 0 < value <= MAX_CURSOR_INT)
            or (isinstance(value, str) and text_problem(value) is not None)
        ):
            raise InvalidCursor()
    return tuple(raw)


Limit = Annotated[int, Query(ge=1, le=100, description="items per page")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]
