"""`/ws/events`: one person's live stream of what happens outside the room they have open.
The same handshake as a room socket (`connection.handshake`); this module only moves
frames: the snapshot first, then whatever the instance's `EventStreams` sends."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from starlette.websockets import WebSocket

from shared.sessions import SessionUser
from shared.tokens import TokenClaims
from ws_service.chat import Chat
from ws_service.connection.close_codes import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SERVICE_RESTART,
    CLOSE_TRY_AGAIN_LATER,
)
from ws_service.connection.handshake import serve_admitted
from ws_service.connection.limits import TokenBucket
from ws_service.delivery.sinks import ClientGone, frame_sink
from ws_service.delivery.subscriber import Outlet
from ws_service.events.snapshot import take_snapshot
from ws_service.events.streams import StreamsClosed

logger = logging.getLogger("gochat.ws.events")


async def person_events(websocket: WebSocket) -> None:
    """Origin (403), token (401), caps (429) and the database (503) are checked before
    the upgrade, as for a room socket."""

    async def check(chat: Chat, claims: TokenClaims) -> SessionUser:
        return await chat.admissions.person(claims)

    async def serve(chat: Chat, user: SessionUser) -> None:
        await _stream(websocket, chat, user)

    await serve_admitted(websocket, check=check, user_of=lambda user: user.id, serve=serve)


router = APIRouter()
router.add_websocket_route("/ws/events", person_events, name="person_events")


async def _stream(websocket: WebSocket, chat: Chat, user: SessionUser) -> None:
    await websocket.accept()
    outlet = Outlet(
        frame_sink(websocket),
        user_id=user.id,
        session_id=user.session_id,
        queue_limit=chat.settings.ws_client_queue_frames,
    )
    outlet.go_live()  # no history: frames are written as they come
    try:
        snapshot = await take_snapshot(chat.sessionmaker, chat.presence, user=user)
        chat.events.connect(outlet, snapshot)
        await _discard_client_frames(websocket, chat, outlet)
    except StreamsClosed:
        outlet.close(CLOSE_SERVICE_RESTART, "server restarting")
    except ClientGone:
        pass
    except Exception:
        logger.exception("events stream failed")
        outlet.close(CLOSE_INTERNAL_ERROR, "internal error")
    finally:
        if outlet.close_code == CLOSE_TRY_AGAIN_LATER:
            chat.metrics.slow_client_disconnects.inc()
        chat.events.disconnect(outlet)
        await outlet.aclose()


async def _discard_client_frames(websocket: WebSocket, chat: Chat, outlet: Outlet) -> None:
    """The stream is one way: client frames are read and dropped, under the same rate
    limit as a room socket's (a client that keeps flooding is closed with 1008)."""
    settings = chat.settings
    clock = asyncio.get_running_loop().time
    bucket = TokenBucket(
        rate=settings.ws_rate_per_second, burst=settings.ws_rate_burst, now=clock()
    )
    refused_in_a_row = 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if bucket.take(clock()):
            refused_in_a_row = 0
            continue
        refused_in_a_row += 1
        if refused_in_a_row >= settings.ws_abuse_limit:
            outlet.close(CLOSE_POLICY_VIOLATION, "too many frames")
            return
