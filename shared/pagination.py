"""Keyset pagination: opaque cursors and the page shape every list endpoint returns.

A cursor holds the sort key of the last item served; the next page starts strictly after it,
so pages neither skip nor repeat items while new ones are added at the head. Every list query
fetches `limit + 1` rows ordered by a unique key; the extra row only says whether another
page exists.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Row, Select, literal_column
from starlette.datastructures import URL

from shared.errors import GoChatError
from shared.text import text_problem

CursorValue = int | str
# The largest key a BIGINT column holds; an id or cursor beyond it can only be forged, and
# would overflow the database driver (a 500) rather than be refused.
MAX_ID = 2**63 - 1


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
            or (isinstance(value, int) and not 0 < value <= MAX_ID)
            or (isinstance(value, str) and text_problem(value) is not None)
        ):
            raise InvalidCursor()
    return tuple(raw)


# A query and its rows, whatever their columns (SQLAlchemy 2.1 types them column by column).
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]

Item = TypeVar("Item", bound=BaseModel)
R = TypeVar("R")


def page_rows(limit: int) -> ColumnElement[int]:
    """`limit + 1` as a LIMIT written into the SQL, for a page selected in a subquery and
    joined to other tables: PostgreSQL's generic plan for a prepared statement guesses a
    bound LIMIT at a tenth of the table and then hash-joins whole tables to it."""
    return literal_column(str(int(limit) + 1))


def split_page(
    rows: Sequence[R], *, limit: int, key: Callable[[R], tuple[CursorValue, ...]]
) -> tuple[Sequence[R], str | None]:
    """The rows to serve and the next page's cursor (None on the last page)."""
    served = rows[:limit]
    return served, encode_cursor(*key(served[-1])) if len(rows) > limit else None


def keyset_page(
    rows: Sequence[AnyRow],
    *,
    limit: int,
    item: Callable[[AnyRow], Item],
    key: Callable[[AnyRow], tuple[CursorValue, ...]],
) -> Page[Item]:
    served, next_cursor = split_page(rows, limit=limit, key=key)
    return Page[Item](items=[item(row) for row in served], next_cursor=next_cursor)


def decode_id_cursor(cursor: str | None) -> int | None:
    """The id a page of an id-ordered list starts after (None for the first page); 422 when
    the cursor is not one this service made."""
    if cursor is None:
        return None
    (last_id,) = decode_cursor(cursor, int)
    assert isinstance(last_id, int)  # decode_cursor checked the type
    return last_id


Limit = Annotated[int, Query(ge=1, le=100, description="items per page")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]


def next_link(url: URL, **params: CursorValue) -> str:
    """A `Link` header value for the next page: a query-only reference, resolved by the
    client against the URL it asked for, so it stays right behind a gateway that serves the
    service under a prefix (`/chat`) on another host and port than the service sees."""
    query = url.include_query_params(**params).query
    return f'<?{query}>; rel="next"'
