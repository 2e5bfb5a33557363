"""Talking to the chat service as a client does: real websockets, real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.users import Account, unique_name

TIMEOUT = 10.0


def ws_base(http_url: str) -> str:
    return "ws" + http_url.removeprefix("http")


async def create_room(
    client: httpx.AsyncClient, account: Account, *, prefix: str = "/chat", name: str = "room"
) -> str:
    room_id = unique_name("r").lower()
    response = await client.post(
        f"{prefix}/ws/createRoom", json={"name": name, "id": room_id}, headers=account.headers
    )
    assert response.status_code == 200, response.text
    return room_id


def join(
    base_url: str,
    room_id: str,
    account: Account | None,
    *,
    prefix: str = "/chat",
    after: int | None = None,
    headers: Mapping[str, str] | None = None,
    **options: Any,
) -> connect:
    """`async with join(...) as ws`: the token goes in a header, never in the URL."""
    url = f"{ws_base(base_url)}{prefix}/ws/joinRoom/{room_id}"
    if after is not None:
        url += f"?after={after}"
    sent = dict(account.headers if account is not None else {})
    sent.update(headers or {})
    options.setdefault("open_timeout", TIMEOUT)
    return connect(url, additional_headers=sent, **options)


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        data = await ws.recv()
    frame: dict[str, Any] = orjson.loads(data)
    return frame


async def until_ready(ws: ClientConnection) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The history frames sent on join (`message`s; on a resume `edit` and `delete` events
    too), and the `ready` frame after them."""
    history = []
    while True:
        frame = await recv(ws)
        if frame["type"] == "ready":
            return history, frame
        assert frame["type"] in ("message", "edit", "delete"), frame
        history.append(frame)


async def next_of(ws: ClientConnection, *types: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next frame of one of `types`, skipping the others (join/leave notices...)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv(ws, timeout)
            if frame["type"] in types:
                return frame


async def messages(
    ws: ClientConnection, count: int, timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    return [await next_of(ws, "message", timeout=timeout) for _ in range(count)]


async def send_message(ws: ClientConnection, content: str, client_id: str | None = None) -> None:
    frame: dict[str, Any] = {"type": "message", "content": content}
    if client_id is not None:
        frame["client_id"] = client_id
    await ws.send(orjson.dumps(frame).decode())


async def frames_until_closed(
    ws: ClientConnection, timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    """Every frame left before the server closes the connection."""
    frames = []
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionClosed):
            while True:
                frames.append(orjson.loads(await ws.recv()))
    return frames


async def close_code(ws: ClientConnection, timeout: float = TIMEOUT) -> int | None:
    """Read (and drop) frames until the server closes; its close code."""
    await frames_until_closed(ws, timeout)
    return ws.close_code


def next_page(response: httpx.Response) -> str | None:
    """The URL of the next page, from the `Link` header, which is relative to the request's."""
    link = response.links.get("next", {}).get("url")
    return None if link is None else str(response.url.join(link))


async def online_in(
    client: httpx.AsyncClient, account: Account, room_id: str, *, prefix: str = "/chat"
) -> int:
    """The room's `online` count, paging `getRooms` until the room shows up."""
    url: str | None = f"{prefix}/ws/getRooms?limit=500"
    while url is not None:
        response = await client.get(url, headers=account.headers)
        assert response.status_code == 200
        for room in response.json():
            if room["id"] == room_id:
                return int(room["online"])
        url = next_page(response)
    raise AssertionError(f"room {room_id} is not listed")


async def clients_in(
    client: httpx.AsyncClient, account: Account, room_id: str, *, prefix: str = "/chat"
) -> list[dict[str, Any]]:
    response = await client.get(f"{prefix}/ws/getClients/{room_id}", headers=account.headers)
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    return listed
