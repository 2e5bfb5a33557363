"""HTTP in and out for a room's messages: scrollback, edit, delete; the rules live in
`service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from shared.deps import CurrentUser, DbSession
from shared.openapi import error_responses
from shared.pagination import MAX_ID, next_link
from ws_service.deps import ChatDep
from ws_service.messages import service
from ws_service.messages.schemas import EditIn, MessageOut
from ws_service.rooms.router import RoomIdPath

router = APIRouter(prefix="/ws", tags=["messages"])

SeqPath = Annotated[int, Path(ge=1, le=MAX_ID, description="the message's id (its seq)")]
Before = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="only messages with a smaller id (the next page's)"),
]
PageLimit = Annotated[int, Query(ge=1, le=100, description="messages per page")]
CHANGE = error_responses(
    403,
    404,
    _403="not your message (a deletion: nor do you own or moderate the room), or you are banned",
    _404="no such room (or a private one you are not in), no such message, or it is deleted",
)


@router.get(
    "/rooms/{room_id}/messages",
    response_model=list[MessageOut],
    responses=error_responses(
        403,
        404,
        _403="you are banned from the room",
        _404="no such room (or a private one you are not in)",
    ),
    description="Scrollback: the newest `limit` messages older than `before` (the newest "
    "without it), oldest first, in their current state (edits applied, deleted ones as "
    'tombstones). Older pages: the `Link: <…>; rel="next"` header.',
)
async def messages(
    request: Request,
    response: Response,
    room_id: RoomIdPath,
    user: CurrentUser,
    db: DbSession,
    before: Before = None,
    limit: PageLimit = 50,
) -> list[MessageOut]:
    page, next_before = await service.scrollback(
        db, user=user, room_id=room_id, before=before, limit=limit
    )
    if next_before is not None:
        response.headers["Link"] = next_link(request.url, before=next_before, limit=limit)
    return page


@router.patch("/rooms/{room_id}/messages/{seq}", response_model=MessageOut, responses=CHANGE)
async def edit_message(
    room_id: RoomIdPath, seq: SeqPath, body: EditIn, user: CurrentUser, db: DbSession, chat: ChatDep
) -> MessageOut:
    """The author replaces the content (the same rules as a message's): an `edit` event in
    the room's sequence, sent to every open socket."""
    return await service.edit(
        db, chat.store, user=user, room_id=room_id, seq=seq, content=body.content
    )


@router.delete(
    "/rooms/{room_id}/messages/{seq}", status_code=status.HTTP_204_NO_CONTENT, responses=CHANGE
)
async def delete_message(
    room_id: RoomIdPath, seq: SeqPath, user: CurrentUser, db: DbSession, chat: ChatDep
) -> None:
    """The author, or the room's owner or a moderator, erases the message (a tombstone): a
    `delete` event in the room's sequence, sent to every open socket."""
    await service.delete(db, chat.store, user=user, room_id=room_id, seq=seq)
