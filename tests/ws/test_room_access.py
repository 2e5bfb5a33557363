"""The room permission rules as plain code (no server)."""

from __future__ import annotations

import pytest

from shared.errors import Forbidden, NotFound
from ws_service.rooms.access import (
    require_moderator,
    require_outranks,
    require_owner,
    require_visible,
)
from ws_service.rooms.members import removal_reason


@pytest.mark.parametrize("kind", ["private", "direct"])
def test_a_closed_room_is_not_found_by_outsiders(kind: str) -> None:
    with pytest.raises(NotFound):
        require_visible(kind, None)
    require_visible(kind, "member")
    require_visible("public", None)


def test_roles_rank_owner_over_moderator_over_member() -> None:
    require_outranks("owner", "moderator")
    require_outranks("moderator", "member")
    require_outranks("moderator", None)  # not a member: anyone moderating outranks them
    for actor, target in (("moderator", "moderator"), ("moderator", "owner"), ("owner", "owner")):
        with pytest.raises(Forbidden):
            require_outranks(actor, target)
    for role in ("member", None):
        with pytest.raises(Forbidden):
            require_moderator(role)
        with pytest.raises(Forbidden):
            require_outranks(role, None)
    with pytest.raises(Forbidden):
        require_owner("moderator")


def test_the_removal_reason_fits_a_close_frame() -> None:
    assert removal_reason(banned=False, room_name="general", by="ann", reason=None) == (
        "removed from #general by ann"
    )
    assert removal_reason(banned=True, room_name="g", by="ann", reason="spam") == (
        "banned from #g by ann: spam"
    )
    long = removal_reason(banned=True, room_name="é" * 100, by="ann", reason="x" * 500)
    assert len(long.encode()) <= 123 and long.startswith("banned from #é")
