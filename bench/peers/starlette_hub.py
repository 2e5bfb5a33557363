"""The plain Starlette websocket hub: a set of sockets per room, `await send_text` to each.

Run as `uvicorn bench.peers.starlette_hub:app`. A client joins `/ws/{room}`; every text frame
it sends goes, unchanged, to every socket in the room (the sender included), one member after
the other.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

rooms: dict[str, set[WebSocket]] = {}


async def hub(websocket: WebSocket) -> None:
    room_id = websocket.path_params["room"]
    await websocket.accept()
    members = rooms.setdefault(room_id, set())
    members.add(websocket)
    try:
        while True:
            text = await websocket.receive_text()
            for member in list(members):
                try:
                    await member.send_text(text)
                except (WebSocketDisconnect, RuntimeError):
                    members.discard(member)
    except WebSocketDisconnect:
        pass
    finally:
        members.discard(websocket)


async def health(_request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/", health), WebSocketRoute("/ws/{room}", hub)])
