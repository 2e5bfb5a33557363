"""`/ws/joinRoom/{room_id}`: one websocket in one room. This module only moves frames:
the handshake's rules are `rooms.service.admit`, delivery is the hub's and the client's,
storage is the message store's."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from functools import partial

from fastapi import APIRouter
from starlette.websockets import WebSocket

from shared.database import unit_of_work
from shared.deps import get_runtime
from shared.errors import GoChatError, NotFound
from shared.people import publish_person_event
from shared.runtime import Runtime
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
from ws_service.connection.protocol import (
    FrameRefused,
    PostedEvent,
    ReadRequest,
    StoredMessage,
    Typing,
    error_frame,
    message_frame,
    parse_client_frame,
    ready_frame,
)
from ws_service.connection.read_marker import ReadMarkerWriter
from ws_service.delivery.hub import HubClosed
from ws_service.delivery.sinks import ClientGone, OutgoingFrames, frame_sink
from ws_service.delivery.subscriber import Subscriber
from ws_service.messages import queries as message_queries
from ws_service.messages.store import Appended, EventRefused, StoreUnavailable
from ws_service.rooms import reading
from ws_service.rooms.service import Admission

logger = logging.getLogger("gochat.ws.connection")

MAX_IN_FLIGHT = 32  # messages of one connection waiting for the database at once


class InvalidResumePoint(GoChatError):
    status_code = 422
    default_detail = "after must be a non-negative integer"


async def join_room(websocket: WebSocket) -> None:
    """Everything is checked before the upgrade and refused with a real HTTP status.

    A plain Starlette endpoint, not a FastAPI one with dependencies: whatever a connection
    holds for its lifetime counts 10,000 times over in memory."""
    runtime = get_runtime(websocket)
    room_id: str = websocket.path_params["room_id"]
    raw_after = websocket.query_params.get("after")

    async def check(chat: Chat, claims: TokenClaims) -> tuple[Admission, int | None]:
        after = _resume_point(raw_after)
        admission = await chat.admissions.room(claims, room_id=room_id)
        return admission, after

    async def serve(chat: Chat, admitted: tuple[Admission, int | None]) -> None:
        admission, after = admitted
        if admission.joined is not None:  # a public room joined for the first time, committed
            await publish_person_event(
                runtime.broker,
                runtime.settings.redis_namespace,
                user_ids=[admission.user.id],
                event=admission.joined,
            )
        await _accept_and_serve(websocket, chat, room_id, admission, after)

    await serve_admitted(
        websocket, check=check, user_of=lambda admitted: admitted[0].user.id, serve=serve
    )


async def _accept_and_serve(
    websocket: WebSocket, chat: Chat, room_id: str, admission: Admission, after: int | None
) -> None:
    await websocket.accept()
    client = Subscriber(
        frame_sink(websocket),
        room_id=room_id,
        user_id=admission.user.id,
        username=admission.user.username,
        session_id=admission.user.session_id,
        queue_limit=chat.settings.ws_client_queue_frames,
    )
    markers = ReadMarkerWriter(partial(_write_marker, chat, get_runtime(websocket), client))
    try:
        await _serve(
            websocket,
            chat,
            client,
            markers,
            user=admission.user,
            after=after,
            last_seq=admission.last_seq,
        )
    finally:
        await markers.aclose()


async def _write_marker(chat: Chat, runtime: Runtime, client: Subscriber, up_to: int) -> None:
    """A `read` frame's marker (coalesced by `ReadMarkerWriter`): committed, then announced
    to the reader's `/ws/events` streams."""
    try:
        async with unit_of_work(chat.sessionmaker) as db:
            state = await reading.mark_read(
                db, room_id=client.room_id, user_id=client.user_id, up_to=up_to
            )
    except NotFound:  # removed from the room: this socket is being closed (4403)
        return
    await reading.announce(runtime.broker, chat.settings.redis_namespace, state)


router = APIRouter()
router.add_websocket_route("/ws/joinRoom/{room_id}", join_room, name="join_room")


def _resume_point(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise InvalidResumePoint()
    return int(value)


async def _serve(
    websocket: WebSocket,
    chat: Chat,
    client: Subscriber,
    markers: ReadMarkerWriter,
    *,
    user: SessionUser,
    after: int | None,
    last_seq: int,
) -> None:
    try:
        through = await chat.hub.join(client, stored_last_seq=last_seq, after=after)
    except HubClosed:
        client.close(CLOSE_SERVICE_RESTART, "server restarting")
        await client.aclose()
        return
    try:
        # First, so that `leave` below always matches it (it counts before any await).
        await chat.presence.enter(client.room_id, user.id, user.username)
        await _send_history(chat, client, after=after, through=through)
        client.go_live()
        await _receive(websocket, chat, client, markers)
    except ClientGone:
        pass
    except Exception:
        logger.exception("chat connection failed")
        client.close(CLOSE_INTERNAL_ERROR, "internal error")
    finally:
        if client.close_code == CLOSE_TRY_AGAIN_LATER:  # before any await can be cut short
            chat.metrics.slow_client_disconnects.inc()
        await chat.hub.leave(client)
        await chat.presence.leave(client.room_id, user.id)
        await client.aclose()


async def _send_history(chat: Chat, client: Subscriber, *, after: int | None, through: int) -> None:
    """The last messages in their current state (or, resuming, every message and event
    after `after`, bounded) up to `through`, then `ready`; live rows after `through` wait
    in the client's queue meanwhile."""
    settings = chat.settings
    limit = settings.ws_history_messages if after is None else settings.ws_resume_max_messages
    history: list[StoredMessage] = []
    truncated = False
    if through > (after or 0) and limit > 0:  # else there is nothing to read
        async with unit_of_work(chat.sessionmaker) as db:
            history, truncated = await message_queries.history(
                db, room_id=client.room_id, after=after, through=through, limit=limit
            )
    for message in history:
        await client.send_before_live(OutgoingFrames(message_frame(message)))
    ready = ready_frame(
        room_id=client.room_id, last_id=through, truncated=after is not None and truncated
    )
    await client.send_before_live(OutgoingFrames(ready))


async def _receive(
    websocket: WebSocket, chat: Chat, client: Subscriber, markers: ReadMarkerWriter
) -> None:
    """Client frames until the connection ends. Every frame spends a token; a client that
    keeps sending while refused (`ws_abuse_limit` refusals in a row) is closed with 1008.
    Up to MAX_IN_FLIGHT messages of one connection wait for the database at once: the
    next frame is read while earlier ones are being committed."""
    settings = chat.settings
    clock = asyncio.get_running_loop().time
    bucket = TokenBucket(
        rate=settings.ws_rate_per_second, burst=settings.ws_rate_burst, now=clock()
    )
    in_flight: deque[asyncio.Future[Appended]] | None = None  # made on the first message
    refused_in_a_row = 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if not bucket.take(clock()):
            refused_in_a_row += 1
            if refused_in_a_row >= settings.ws_abuse_limit:
                client.close(CLOSE_POLICY_VIOLATION, "too many messages")
                return
            client.deliver(OutgoingFrames(error_frame("rate_limited", "slow down")))
            continue
        refused_in_a_row = 0
        try:
            text = message.get("text")
            if text is None:
                raise FrameRefused("bad_frame", "binary frames are not accepted")
            posted = parse_client_frame(text)
            if isinstance(posted, Typing):
                await chat.hub.typing(client)
                continue
            if isinstance(posted, ReadRequest):
                markers.report(posted.up_to)
                continue
            if in_flight is None:
                in_flight = deque()
            while in_flight and in_flight[0].done():
                in_flight.popleft()
            if len(in_flight) >= MAX_IN_FLIGHT:
                await asyncio.wait([in_flight.popleft()])
            if isinstance(posted, PostedEvent):
                done = await chat.store.submit_event(
                    room_id=client.room_id,
                    user_id=client.user_id,
                    username=client.username,
                    event=posted,
                )
            else:
                done = await chat.store.submit(
                    room_id=client.room_id,
                    user_id=client.user_id,
                    username=client.username,
                    content=posted.content,
                    client_id=posted.client_id,
                )
        except FrameRefused as exc:
            client.deliver(OutgoingFrames(error_frame(exc.code, exc.detail)))
            continue
        except StoreUnavailable as exc:
            client.deliver(OutgoingFrames(error_frame("unavailable", str(exc))))
            continue
        chat.metrics.messages_received.inc()
        done.add_done_callback(partial(_answer, client))
        in_flight.append(done)


def _answer(client: Subscriber, done: asyncio.Future[Appended]) -> None:
    """What the sender alone is told once its message is settled: the original of a
    repeated `client_id`, or why it was not stored. (Stored messages reach the sender with
    everyone else's, from the hub.)"""
    if done.cancelled():
        return
    failure = done.exception()
    if isinstance(failure, EventRefused):
        client.deliver(OutgoingFrames(error_frame(failure.code, failure.detail)))
    elif failure is not None:
        client.deliver(OutgoingFrames(error_frame("unavailable", str(failure))))
    elif done.result().duplicate:
        client.deliver(OutgoingFrames(message_frame(done.result().message)))
