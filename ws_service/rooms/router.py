"""HTTP in and out for rooms; the rules live in `service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from shared.deps import CurrentUser, DbSession
from shared.pagination import Cursor
from shared.text import PLAIN_TEXT
from ws_service.deps import ChatDep
from ws_service.rooms import service
from ws_service.rooms.schemas import ClientOut, CreateRoomIn, RoomListItem, RoomOut

router = APIRouter(prefix="/ws", tags=["rooms"])

RoomLimit = Annotated[int, Query(ge=1, le=500, description="rooms per page")]
# Any text but control characters: an id no room has is a 404, one no room can have a 422.
RoomIdPath = Annotated[str, *PLAIN_TEXT, Path(description="the room's id")]


@router.post("/createRoom", response_model=RoomOut, responses={409: {"description": "id taken"}})
async def create_room(body: CreateRoomIn, user: CurrentUser, db: DbSession) -> RoomOut:
    room = await service.create_room(db, name=body.name, room_id=body.id, created_by=user.id)
    return RoomOut.model_validate(room)


@router.get(
    "/getRooms",
    response_model=list[RoomListItem],
    description='Rooms in id order. More pages: the `Link: <…>; rel="next"` header.',
)
async def get_rooms(
    request: Request,
    response: Response,
    _user: CurrentUser,
    db: DbSession,
    chat: ChatDep,
    limit: RoomLimit = 100,
    cursor: Cursor = None,
) -> list[RoomListItem]:
    rooms, next_cursor = await service.list_rooms(db, chat.presence, limit=limit, cursor=cursor)
    if next_cursor is not None:
        next_url = request.url.include_query_params(limit=limit, cursor=next_cursor)
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return [
        RoomListItem(
            id=item.room.id,
            name=item.room.name,
            created_by=item.room.created_by,
            created_at=item.room.created_at,
            online=item.online,
        )
        for item in rooms
    ]


@router.get("/getClients/{room_id}", response_model=list[ClientOut])
async def get_clients(
    room_id: RoomIdPath, _user: CurrentUser, db: DbSession, chat: ChatDep
) -> list[ClientOut]:
    present = await service.list_clients(db, chat.presence, room_id=room_id)
    return [ClientOut(user_id=user.user_id, username=user.username) for user in present]
