"""Who may do what in a room: plain rules over roles, tested without a server.

Roles rank owner > moderator > member. A private room or a direct conversation does not
exist for anyone outside it: every refusal there is the same 404 as an unknown room.
"""

from __future__ import annotations

from shared.errors import Forbidden, NotFound

RANK: dict[str, int] = {"member": 1, "moderator": 2, "owner": 3}
NO_SUCH_ROOM = "room not found"


def require_visible(kind: str, role: str | None) -> None:
    """404 (as for an unknown room) for a private or direct room to anyone not in it: its
    existence does not leak."""
    if kind != "public" and role is None:
        raise NotFound(NO_SUCH_ROOM)


def require_moderator(role: str | None) -> None:
    """Invitations, kicks and bans: owners and moderators."""
    if RANK.get(role or "", 0) < RANK["moderator"]:
        raise Forbidden("only the room's owner or moderators may do this")


def require_owner(role: str | None) -> None:
    """Role changes: the owner alone."""
    if role != "owner":
        raise Forbidden("only the room's owner may do this")


def require_outranks(actor_role: str | None, target_role: str | None) -> None:
    """A moderator removes members, the owner removes anyone else; never someone of equal
    or higher role. `target_role` None (not a member) is outranked by any moderator."""
    require_moderator(actor_role)
    if target_role is not None and RANK[target_role] >= RANK[actor_role or "member"]:
        raise Forbidden("you cannot remove someone of equal or higher role")
