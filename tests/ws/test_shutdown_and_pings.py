"""Connections end well: 1012 on shutdown, and pings find the dead ones."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from pathlib import Path

import httpx

from tests.conftest import make_settings
from tests.support.servers import ThreadServer
from tests.support.users import Account
from tests.ws.chat_client import close_code, create_room, join, messages, send_message, until_ready
from ws_service.app import create_app


async def test_shutdown_closes_every_socket_with_1012(
    client: httpx.AsyncClient, database_url: str, data_dir: Path, alice: Account, bob: Account
) -> None:
    settings = make_settings(database_url, data_dir)
    server = ThreadServer(create_app(settings), settings).start()
    room_id = await create_room(client, alice)
    async with (
        join(server.url, room_id, alice, prefix="") as a,
        join(server.url, room_id, bob, prefix="") as b,
    ):
        await until_ready(a)
        await until_ready(b)
        stopping = asyncio.create_task(asyncio.to_thread(server.stop))
        assert await close_code(a) == 1012
        assert await close_code(b) == 1012
        await stopping
    assert not server.thread.is_alive()


def raw_upgrade(url: str, path: str, token: str) -> socket.socket:
    """A websocket handshake by hand; afterwards this peer reads nothing and answers no ping,
    like a machine that vanished."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 101")
    return sock


async def test_pings_keep_idle_sockets_and_find_dead_ones(
    client: httpx.AsyncClient, database_url: str, data_dir: Path, alice: Account, bob: Account
) -> None:
    settings = make_settings(
        database_url, data_dir, ws_ping_interval_seconds=0.2, ws_ping_timeout_seconds=0.3
    )
    server = ThreadServer(create_app(settings), settings).start()
    try:
        room_id = await create_room(client, alice)
        async with join(server.url, room_id, alice, prefix="") as idle:
            await until_ready(idle)
            dead = await asyncio.to_thread(
                raw_upgrade, server.url, f"/ws/joinRoom/{room_id}", bob.token
            )
            clients_url = f"{server.url}/ws/getClients/{room_id}"
            async with httpx.AsyncClient(headers=alice.headers) as http:
                # The 101 comes before the handler has registered Bob: wait until it has.
                for _ in range(100):
                    listed = (await http.get(clients_url)).json()
                    if {c["user_id"] for c in listed} == {alice.id, bob.id}:
                        break
                    await asyncio.sleep(0.05)
                assert {c["user_id"] for c in listed} == {alice.id, bob.id}
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    listed = (await http.get(clients_url)).json()
                    if {c["user_id"] for c in listed} == {alice.id}:
                        break
                assert {c["user_id"] for c in listed} == {alice.id}
            await asyncio.sleep(0.6)  # several ping intervals: the live one stays
            await send_message(idle, "still open")
            assert (await messages(idle, 1))[0]["content"] == "still open"
            dead.close()
    finally:
        server.stop()
