"""HTTP in and out for rooms and direct conversations; the rules live in `service`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response

from shared.deps import CurrentUser, DbSession, RuntimeDep
from shared.openapi import error_responses
from shared.pagination import MAX_ID, Cursor, next_link
from shared.text import PLAIN_TEXT
from ws_service.deps import ChatDep
from ws_service.rooms import reading, service
from ws_service.rooms.schemas import (
    ClientOut,
    CreateRoomIn,
    MyRoomItem,
    ReadOut,
    RoomDetail,
    RoomListItem,
    RoomOut,
)

router = APIRouter(prefix="/ws", tags=["rooms"])

RoomLimit = Annotated[int, Query(ge=1, le=500, description="rooms per page")]
# Any text but control characters: an id no room has is a 404, one no room can have a 422.
RoomIdPath = Annotated[str, *PLAIN_TEXT, Path(description="the room's id")]
UserIdQuery = Annotated[int, Query(alias="userId", ge=1, le=MAX_ID, description="a user's id")]
NOT_FOUND = error_responses(404, _404="no such room (or a private one you are not in)")


@router.post("/createRoom", response_model=RoomOut, responses={409: {"description": "id taken"}})
async def create_room(body: CreateRoomIn, user: CurrentUser, db: DbSession) -> RoomOut:
    return await service.create_room(
        db, name=body.name, room_id=body.id, private=body.private, creator=user
    )


@router.post(
    "/dm",
    response_model=RoomOut,
    responses={
        400: {"description": "yourself"},
        403: {"description": "a block stands between you"},
        404: {"description": "no such user"},
    },
)
async def direct_message(user_id: UserIdQuery, user: CurrentUser, db: DbSession) -> RoomOut:
    return await service.open_direct(db, user=user, other_id=user_id)


@router.get(
    "/getRooms",
    response_model=list[MyRoomItem] | list[RoomListItem],
    description="The public rooms in id order, or with `mine=true` the caller's rooms of every "
    "kind, newest activity first, each with `unread`, `read_seq` and `last_message`. More "
    'pages: the `Link: <…>; rel="next"` header.',
)
async def get_rooms(
    request: Request,
    response: Response,
    user: CurrentUser,
    db: DbSession,
    chat: ChatDep,
    limit: RoomLimit = 100,
    cursor: Cursor = None,
    mine: bool = False,
) -> Sequence[RoomListItem]:
    rooms, next_cursor = await service.list_rooms(
        db, chat.presence, user=user, mine=mine, limit=limit, cursor=cursor
    )
    if next_cursor is not None:
        response.headers["Link"] = next_link(request.url, limit=limit, cursor=next_cursor)
    return rooms


@router.get("/getClients/{room_id}", response_model=list[ClientOut], responses=NOT_FOUND)
async def get_clients(
    room_id: RoomIdPath, user: CurrentUser, db: DbSession, chat: ChatDep
) -> list[ClientOut]:
    present = await service.list_clients(db, chat.presence, user=user, room_id=room_id)
    return [ClientOut(user_id=person.user_id, username=person.username) for person in present]


@router.get("/rooms/{room_id}", response_model=RoomDetail, responses=NOT_FOUND)
async def get_room(
    room_id: RoomIdPath, user: CurrentUser, db: DbSession, chat: ChatDep
) -> RoomDetail:
    return await service.room_detail(db, chat.presence, user=user, room_id=room_id)


UpToQuery = Annotated[
    int, Query(alias="upTo", ge=0, le=MAX_ID, description="the last seq the caller has seen")
]


@router.post(
    "/rooms/{room_id}/read",
    response_model=ReadOut,
    responses=error_responses(
        404, _404="no such room (or a private one you are not in), or you are not a member"
    ),
)
async def mark_read(
    room_id: RoomIdPath,
    up_to: UpToQuery,
    user: CurrentUser,
    db: DbSession,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> ReadOut:
    """Moves the caller's read marker forward to `upTo` (never back; past the room's last
    message: to it) and answers where it is and how many messages remain unread. Once
    committed, the caller's other tabs and devices hear it on `/ws/events`."""
    state = await reading.mark_read(db, room_id=room_id, user_id=user.id, up_to=up_to)
    # Background tasks run after the response, hence after the request's commit.
    background.add_task(reading.announce, runtime.broker, runtime.settings.redis_namespace, state)
    return ReadOut(room_id=state.room_id, read_seq=state.read_seq, unread=state.unread)
