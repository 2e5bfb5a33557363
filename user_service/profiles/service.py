"""Profile rules: what a profile shows, and how a username search pages."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import NotFound
from shared.pagination import InvalidCursor, Page, decode_cursor, keyset_page
from user_service.accounts.service import NO_SUCH_USER
from user_service.profiles import queries
from user_service.profiles.schemas import ProfileOut, UserSummary

_USERNAME_KEY = re.compile(r"^[a-z0-9_]{1,32}$")


async def get_profile(db: AsyncSession, *, user_id: int, viewer_id: int) -> ProfileOut:
    """The profile with the viewer's follow, block and mute relations to it."""
    row = await queries.profile(db, user_id=user_id, viewer_id=viewer_id)
    if row is None:
        raise NotFound(NO_SUCH_USER)
    return ProfileOut.model_validate(row)


async def search_users(
    db: AsyncSession, *, prefix: str, cursor: str | None, limit: int
) -> Page[UserSummary]:
    """Users whose username starts with `prefix`, case-insensitively, in username order."""
    after = None
    if cursor is not None:
        (key,) = decode_cursor(cursor, str)
        if not isinstance(key, str) or not _USERNAME_KEY.match(key):
            raise InvalidCursor()
        after = key
    rows = await queries.search(db, prefix=prefix.lower(), after=after, limit=limit)
    return keyset_page(
        rows, limit=limit, item=UserSummary.model_validate, key=lambda row: (row.username_key,)
    )
