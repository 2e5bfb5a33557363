"""HTTP in and out for invitations, members, roles, kicks, leaving and bans; the rules live
in `members`. A kick, ban or leave is announced on the broker once the request has
committed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Path, status

from shared.deps import CurrentUser, DbSession, RuntimeDep
from shared.events import RoomRemovalEvent, publish_control_event
from shared.pagination import MAX_ID, Cursor, Limit, Page
from shared.runtime import Runtime
from ws_service.rooms import members
from ws_service.rooms.router import NOT_FOUND, RoomIdPath, UserIdQuery
from ws_service.rooms.schemas import BanIn, BanOut, InviteOut, MemberOut, RoleIn, RoomOut

router = APIRouter(prefix="/ws", tags=["members"])

UserIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a user's id")]
MODERATION: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    400: {"description": "yourself"},
    403: {"description": "your role does not allow it"},
}


def _announce(background: BackgroundTasks, runtime: Runtime, event: RoomRemovalEvent) -> None:
    """Background tasks run after the response, hence after the request's commit: every
    chat instance then closes that person's sockets in the room (4403, or 4410 for a
    leave)."""
    background.add_task(
        publish_control_event, runtime.broker, runtime.settings.redis_namespace, event
    )


@router.post(
    "/rooms/{room_id}/invites",
    response_model=InviteOut,
    responses={**MODERATION, 409: {"description": "already a member"}},
)
async def invite(
    room_id: RoomIdPath, user_id: UserIdQuery, user: CurrentUser, db: DbSession
) -> InviteOut:
    return await members.invite(db, actor=user, room_id=room_id, invitee_id=user_id)


@router.get("/invites", response_model=Page[InviteOut])
async def my_invites(
    user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[InviteOut]:
    return await members.my_invites(db, user=user, cursor=cursor, limit=limit)


@router.post(
    "/invites/{room_id}/accept",
    response_model=RoomOut,
    responses={404: {"description": "no such invitation"}},
)
async def accept_invite(room_id: RoomIdPath, user: CurrentUser, db: DbSession) -> RoomOut | None:
    return await members.answer_invite(db, user=user, room_id=room_id, accept=True)


@router.post(
    "/invites/{room_id}/decline",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such invitation"}},
)
async def decline_invite(room_id: RoomIdPath, user: CurrentUser, db: DbSession) -> None:
    await members.answer_invite(db, user=user, room_id=room_id, accept=False)


@router.get("/rooms/{room_id}/members", response_model=Page[MemberOut], responses=NOT_FOUND)
async def room_members(
    room_id: RoomIdPath, user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[MemberOut]:
    return await members.members(db, user=user, room_id=room_id, cursor=cursor, limit=limit)


@router.post(
    "/rooms/{room_id}/members/{user_id}/role", response_model=MemberOut, responses=MODERATION
)
async def set_role(
    room_id: RoomIdPath, user_id: UserIdPath, body: RoleIn, user: CurrentUser, db: DbSession
) -> MemberOut:
    return await members.set_role(db, actor=user, room_id=room_id, user_id=user_id, role=body.role)


@router.delete(
    "/rooms/{room_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=MODERATION,
)
async def kick(
    room_id: RoomIdPath,
    user_id: UserIdPath,
    user: CurrentUser,
    db: DbSession,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> None:
    event = await members.kick(db, actor=user, room_id=room_id, user_id=user_id)
    _announce(background, runtime, event)


@router.post("/rooms/{room_id}/leave", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def leave(
    room_id: RoomIdPath,
    user: CurrentUser,
    db: DbSession,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> None:
    event = await members.leave(db, user=user, room_id=room_id)
    _announce(background, runtime, event)


@router.post("/rooms/{room_id}/bans/{user_id}", response_model=BanOut, responses=MODERATION)
async def ban(
    room_id: RoomIdPath,
    user_id: UserIdPath,
    user: CurrentUser,
    db: DbSession,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    body: Annotated[BanIn | None, Body()] = None,
) -> BanOut:
    reason = body.reason if body is not None else None
    banned, event = await members.ban(
        db, actor=user, room_id=room_id, user_id=user_id, reason=reason
    )
    _announce(background, runtime, event)
    return banned


@router.delete(
    "/rooms/{room_id}/bans/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=MODERATION,
)
async def unban(room_id: RoomIdPath, user_id: UserIdPath, user: CurrentUser, db: DbSession) -> None:
    await members.unban(db, actor=user, room_id=room_id, user_id=user_id)


@router.get("/rooms/{room_id}/bans", response_model=Page[BanOut], responses=MODERATION)
async def room_bans(
    room_id: RoomIdPath, user: CurrentUser, db: DbSession, limit: Limit = 20, cursor: Cursor = None
) -> Page[BanOut]:
    return await members.bans(db, actor=user, room_id=room_id, cursor=cursor, limit=limit)
