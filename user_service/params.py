"""Path and query parameters that several domains take: ids of users and posts.

Ids are positive 64-bit integers; anything else (missing, non-numeric, zero, negative or too
large for the column) is a 422 before a query runs, never a 500 from the driver.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from shared.pagination import MAX_ID

UserIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a user's id")]
PostIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a post's id")]


def _user_id_query(alias: str) -> object:
    """A required user id in the query string under the contract's camelCase name."""
    return Query(alias=alias, ge=1, le=MAX_ID, description="a user's id")


ToFollowId = Annotated[int, _user_id_query("toFollowId")]
ToUnfollowId = Annotated[int, _user_id_query("toUnfollowId")]
ToBlockId = Annotated[int, _user_id_query("toBlockId")]
ToUnblockId = Annotated[int, _user_id_query("toUnblockId")]
ToMuteId = Annotated[int, _user_id_query("toMuteId")]
ToUnmuteId = Annotated[int, _user_id_query("toUnmuteId")]
