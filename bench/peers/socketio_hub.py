"""The python-socketio peer: an AsyncServer on uvicorn, clients in one room, emit to the room.

Run as `uvicorn bench.peers.socketio_hub:app`. A client connects with `?room=NAME` in the
query string and is entered into that room; every "message" event it emits is emitted to the
whole room (the sender included).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import socketio

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[])
room_of: dict[str, str] = {}


@sio.event
async def connect(sid: str, environ: dict[str, Any], _auth: object = None) -> None:
    room = parse_qs(environ.get("QUERY_STRING", "")).get("room", ["bench"])[0]
    room_of[sid] = room
    await sio.enter_room(sid, room)


@sio.event
async def disconnect(sid: str, _reason: object = None) -> None:
    room_of.pop(sid, None)


@sio.event
async def message(sid: str, data: object) -> None:
    await sio.emit("message", data, room=room_of[sid])


async def health(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every plain HTTP request outside /socket.io with 200 "ok" (readiness probe)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


app = socketio.ASGIApp(sio, other_asgi_app=health)
