"""Membership rules: invitations, members and their roles, kicks, leaving, bans.

Every function first reaches the room as the caller (the same 404 as an unknown room for a
private or direct room they are not in), then checks their role (403), then the target.
Kicks, bans and leaves answer the `RoomRemovalEvent` the router publishes after the commit,
so that every chat instance closes that person's sockets in that room.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.blocks import blocked_either_way
from shared.errors import BadRequest, Conflict, Forbidden, NotFound
from shared.events import RoomRemovalEvent
from shared.pagination import Page, decode_cursor, decode_id_cursor, keyset_page
from shared.people import PersonEvent, publish_after_commit
from shared.sessions import SessionUser
from ws_service.events import frames
from ws_service.rooms import queries
from ws_service.rooms.access import require_moderator, require_outranks, require_owner
from ws_service.rooms.schemas import BanOut, InviteOut, MemberOut, RoomOut
from ws_service.rooms.service import NO_SUCH_USER, announce_room_added, reach

NOT_A_MEMBER = "not a member of this room"
NO_SUCH_INVITATION = "no such invitation"
CLOSE_REASON_BYTES = 123  # the most a websocket close frame carries


def _close_reason(text: str) -> str:
    """`text` cut to what a close frame carries, never inside a character."""
    return text.encode()[:CLOSE_REASON_BYTES].decode(errors="ignore")


def removal_reason(*, banned: bool, room_name: str, by: str, reason: str | None) -> str:
    """What the removed person is shown: "removed from #general by alice"."""
    text = f"{'banned from' if banned else 'removed from'} #{room_name} by {by}"
    if reason:
        text += f": {reason}"
    return _close_reason(text)


async def _require_user(db: AsyncSession, user_id: int) -> str:
    names = await queries.usernames(db, [user_id])
    if user_id not in names:
        raise NotFound(NO_SUCH_USER)
    return names[user_id]


async def invite(
    db: AsyncSession, *, actor: SessionUser, room_id: str, invitee_id: int
) -> InviteOut:
    """Owners and moderators invite to private rooms. Idempotent; refused for a member
    (409), a banned user or across a block (403)."""
    access = await reach(db, room_id=room_id, user_id=actor.id)
    require_moderator(access.role)
    if access.room.kind != "private":
        raise BadRequest("only private rooms take invitations")
    await _require_user(db, invitee_id)
    if await queries.member(db, room_id=room_id, user_id=invitee_id) is not None:
        raise Conflict("already a member")
    if await queries.ban(db, room_id=room_id, user_id=invitee_id) is not None:
        raise Forbidden("this user is banned from the room")
    if await blocked_either_way(db, user_id=actor.id, other_id=invitee_id):
        raise Forbidden("a block stands between you and this user")
    await queries.insert_invite(db, room_id=room_id, invitee_id=invitee_id, inviter_id=actor.id)
    found = await queries.invite(db, room_id=room_id, invitee_id=invitee_id)
    assert found is not None
    names = await queries.usernames(db, [found.inviter_id] if found.inviter_id else [])
    invitation = InviteOut(
        room_id=room_id,
        room_name=access.room.name,
        inviter_id=found.inviter_id,
        inviter_username=names.get(found.inviter_id or 0),
        created_at=found.created_at,
    )
    publish_after_commit(db, PersonEvent(user_ids=(invitee_id,), event=frames.invite(invitation)))
    return invitation


async def my_invites(
    db: AsyncSession, *, user: SessionUser, cursor: str | None, limit: int
) -> Page[InviteOut]:
    after = str(decode_cursor(cursor, str)[0]) if cursor else None
    rows = await queries.invites_page(db, invitee_id=user.id, after_room_id=after, limit=limit)
    return keyset_page(rows, limit=limit, item=InviteOut.model_validate, key=lambda r: (r.room_id,))


async def answer_invite(
    db: AsyncSession, *, user: SessionUser, room_id: str, accept: bool
) -> RoomOut | None:
    """Accepting makes the invitee a member; either answer ends the invitation. 404 when
    there is none (for an unknown room too)."""
    if not await queries.delete_invite(db, room_id=room_id, invitee_id=user.id):
        raise NotFound(NO_SUCH_INVITATION)
    if not accept:
        return None
    await queries.insert_member(db, room_id=room_id, user_id=user.id, role="member")
    access = await reach(db, room_id=room_id, user_id=user.id)
    joined = RoomOut.model_validate(access.room)
    announce_room_added(db, joined, user_id=user.id)
    return joined


async def members(
    db: AsyncSession, *, user: SessionUser, room_id: str, cursor: str | None, limit: int
) -> Page[MemberOut]:
    await reach(db, room_id=room_id, user_id=user.id)
    rows = await queries.members_page(
        db, room_id=room_id, after_user_id=decode_id_cursor(cursor), limit=limit
    )
    return keyset_page(rows, limit=limit, item=MemberOut.model_validate, key=lambda r: (r.user_id,))


async def set_role(
    db: AsyncSession, *, actor: SessionUser, room_id: str, user_id: int, role: str
) -> MemberOut:
    """The owner makes members moderators and back; effective for the next action."""
    access = await reach(db, room_id=room_id, user_id=actor.id)
    require_owner(access.role)
    if user_id == actor.id:
        raise BadRequest("you cannot change your own role")
    if await queries.member(db, room_id=room_id, user_id=user_id) is None:
        raise NotFound(NOT_A_MEMBER)
    await queries.set_role(db, room_id=room_id, user_id=user_id, role=role)
    row = await queries.member(db, room_id=room_id, user_id=user_id)
    return MemberOut.model_validate(row)


async def kick(
    db: AsyncSession, *, actor: SessionUser, room_id: str, user_id: int
) -> RoomRemovalEvent:
    """Owners and moderators remove someone of lower role; they may come back (a public
    room) or be invited again (a private one)."""
    access = await reach(db, room_id=room_id, user_id=actor.id)
    require_moderator(access.role)
    if user_id == actor.id:
        raise BadRequest("to leave a room, use leave")
    target = await queries.member(db, room_id=room_id, user_id=user_id)
    if target is None:
        raise NotFound(NOT_A_MEMBER)
    require_outranks(access.role, target.role)
    await queries.delete_member(db, room_id=room_id, user_id=user_id)
    reason = removal_reason(
        banned=False, room_name=access.room.name, by=actor.username, reason=None
    )
    return RoomRemovalEvent("room_kick", room_id, user_id, actor.id, reason)


async def leave(db: AsyncSession, *, user: SessionUser, room_id: str) -> RoomRemovalEvent:
    """Idempotent. An owner who leaves hands the room to the longest-standing moderator
    (else member). The event closes the sockets the leaver still has open in the room, in
    other tabs or on other devices (a repeated leave announces it again, which costs
    nothing and closes whatever the first announcement missed); their live streams drop
    the room on the same event."""
    access = await reach(db, room_id=room_id, user_id=user.id)
    if access.role == "owner":
        heir = await queries.successor(db, room_id=room_id)
        if heir is not None:
            await queries.set_role(db, room_id=room_id, user_id=heir, role="owner")
    await queries.delete_member(db, room_id=room_id, user_id=user.id)
    reason = _close_reason(f"you left #{access.room.name}")
    return RoomRemovalEvent("room_leave", room_id, user.id, user.id, reason)


async def ban(
    db: AsyncSession,
    *,
    actor: SessionUser,
    room_id: str,
    user_id: int,
    reason: str | None,
) -> tuple[BanOut, RoomRemovalEvent]:
    """A kick that also refuses them (and their invitation) until unbanned. Idempotent:
    the first ban's author, reason and time stay. Someone not (yet) a member may be banned
    too."""
    access = await reach(db, room_id=room_id, user_id=actor.id)
    require_moderator(access.role)
    if user_id == actor.id:
        raise BadRequest("you cannot ban yourself")
    await _require_user(db, user_id)
    target = await queries.member(db, room_id=room_id, user_id=user_id)
    require_outranks(access.role, target.role if target is not None else None)
    await queries.insert_ban(
        db, room_id=room_id, user_id=user_id, banned_by=actor.id, reason=reason
    )
    await queries.delete_member(db, room_id=room_id, user_id=user_id)
    await queries.delete_invite(db, room_id=room_id, invitee_id=user_id)
    row = await queries.ban(db, room_id=room_id, user_id=user_id)
    text = removal_reason(banned=True, room_name=access.room.name, by=actor.username, reason=reason)
    return BanOut.model_validate(row), RoomRemovalEvent(
        "room_ban", room_id, user_id, actor.id, text
    )


async def unban(db: AsyncSession, *, actor: SessionUser, room_id: str, user_id: int) -> None:
    """Idempotent; they may join (or be invited) again."""
    access = await reach(db, room_id=room_id, user_id=actor.id)
    require_moderator(access.role)
    await queries.delete_ban(db, room_id=room_id, user_id=user_id)


async def bans(
    db: AsyncSession, *, actor: SessionUser, room_id: str, cursor: str | None, limit: int
) -> Page[BanOut]:
    access = await reach(db, room_id=room_id, user_id=actor.id)
    require_moderator(access.role)
    rows = await queries.bans_page(
        db, room_id=room_id, after_user_id=decode_id_cursor(cursor), limit=limit
    )
    return keyset_page(rows, limit=limit, item=BanOut.model_validate, key=lambda r: (r.user_id,))
