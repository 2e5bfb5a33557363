"""The handshake every chat websocket shares (`/ws/joinRoom/{id}`, `/ws/events`): the
handshake-rate cap (before any other work, so a flood costs no query), the database gate
(503), the Origin and the token's signature (403, 401), the endpoint's own checks (the
session and the room, read with those of concurrent handshakes by `Admissions`: 401, 403,
404...), then the connection caps (429). Every refusal is a real HTTP status before the
upgrade."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.websockets import WebSocket

from shared.authentication import socket_claims, token_from
from shared.deps import get_runtime
from shared.errors import GoChatError, refuse_websocket
from shared.tokens import TokenClaims
from ws_service.chat import Chat
from ws_service.connection.caps import CapReached
from ws_service.deps import get_chat

T = TypeVar("T")

# The endpoint's own admission: (the chat, the token's verified claims) -> what it serves.
Check = Callable[[Chat, TokenClaims], Awaitable[T]]


async def serve_admitted(
    websocket: WebSocket,
    *,
    check: Check[T],
    user_of: Callable[[T], int],
    serve: Callable[[Chat, T], Awaitable[None]],
) -> None:
    """Runs the shared handshake and `check`; on success holds a connection slot while
    `serve` runs (it accepts the socket)."""
    chat = get_chat(websocket)
    address = websocket.client.host if websocket.client else "unknown"
    try:
        chat.caps.handshake(address, now=asyncio.get_running_loop().time())
    except CapReached as exc:
        await refuse_websocket(websocket, exc)
        return
    admitted = await _admit(websocket, chat, check)
    if admitted is None:
        return
    try:
        slot = chat.caps.open(user_id=user_of(admitted), address=address)
    except CapReached as exc:
        await refuse_websocket(websocket, exc)
        return
    try:
        await serve(chat, admitted)
    finally:
        chat.caps.release(slot)


async def _admit(websocket: WebSocket, chat: Chat, check: Check[T]) -> T | None:
    """What `check` admitted, or None once the handshake has been refused. A function of
    its own, so that the connection's handler keeps neither the token nor its claims alive
    for the connection's lifetime."""
    runtime = get_runtime(websocket)
    try:
        runtime.database.require()  # 503 until the database has been seen at head
        token, _from_cookie = token_from(websocket)
        claims = socket_claims(runtime, token=token, origin=websocket.headers.get("origin"))
        return await check(chat, claims)
    except GoChatError as exc:
        await refuse_websocket(websocket, exc)
        return None
