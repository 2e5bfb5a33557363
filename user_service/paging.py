"""Turning one keyset query's rows into a `Page`.

Every list query fetches `limit + 1` rows ordered by a unique key; the extra row only says
whether another page exists, and the cursor is the key of the last row served.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Row, Select, literal_column

from shared.pagination import CursorValue, Page, decode_cursor, encode_cursor

# A query and its rows, whatever their columns (SQLAlchemy 2.1 types them column by column).
AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]

Item = TypeVar("Item", bound=BaseModel)


def page_rows(limit: int) -> ColumnElement[int]:
    """`limit + 1` as a LIMIT written into the SQL, for a page selected in a subquery and
    joined to other tables: PostgreSQL's generic plan for a prepared statement guesses a
    bound LIMIT at a tenth of the table and then hash-joins whole tables to it."""
    return literal_column(str(int(limit) + 1))


def keyset_page(
    rows: Sequence[AnyRow],
    *,
    limit: int,
    item: Callable[[AnyRow], Item],
    key: Callable[[AnyRow], tuple[CursorValue, ...]],
) -> Page[Item]:
    served = rows[:limit]
    next_cursor = encode_cursor(*key(served[-1])) if len(rows) > limit else None
    return Page[Item](items=[item(row) for row in served], next_cursor=next_cursor)


def decode_id_cursor(cursor: str | None) -> int | None:
    """The id a page of an id-ordered list starts after (None for the first page); 422 when
    the cursor is not one this service made."""
    if cursor is None:
        return None
    (last_id,) = decode_cursor(cursor, int)
    assert isinstance(last_id, int)  # decode_cursor checked the type
    return last_id
