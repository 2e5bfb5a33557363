"""A client that stops reading is cut off with 1013 while the room keeps flowing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.servers import ThreadServer
from tests.support.users import Account
from tests.ws.chat_client import (
    create_room,
    frames_until_closed,
    join,
    messages,
    send_message,
    until_ready,
)
from tests.ws.conftest import UNLIMITED
from ws_service.app import create_app

QUEUE_FRAMES = 16
MESSAGES = 400
CONTENT = "\U0001f600" * 3900  # ~16 KB a frame: 400 of them overflow every buffer on the way


@pytest.fixture(scope="module")
def small_queue_server(
    database_url: str, data_dir: Path, dev_server: ThreadServer
) -> Iterator[ThreadServer]:
    settings = make_settings(
        database_url,
        data_dir,
        ws_client_queue_frames=QUEUE_FRAMES,
        ws_store_batch_max=QUEUE_FRAMES,
        **UNLIMITED,
    )
    server = ThreadServer(create_app(settings), settings).start()
    yield server
    server.stop()


def tiny_receive_buffer(url: str) -> socket.socket:
    """A connected socket that takes little before the peer must wait."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((parts.hostname, parts.port))
    sock.setblocking(False)
    return sock


@pytest.mark.parametrize("server_name", ["small_queue_server", "plain_asgi_server"])
async def test_a_client_that_does_not_read_is_closed_with_1013_and_the_room_flows_on(
    request: pytest.FixtureRequest,
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    server_name: str,
) -> None:
    server: ThreadServer = request.getfixturevalue(server_name)
    room_id = await create_room(client, alice)
    sock = tiny_receive_buffer(server.url)
    async with (
        join(server.url, room_id, bob, prefix="", sock=sock, max_queue=1) as slow,
        join(server.url, room_id, alice, prefix="", max_queue=None) as fast,
    ):
        await until_ready(slow)
        await until_ready(fast)

        async def send_all() -> None:
            for n in range(MESSAGES):
                await send_message(fast, f"{n}:{CONTENT}")

        sending = asyncio.create_task(send_all())
        received = await messages(fast, MESSAGES, timeout=60)
        await sending
        assert [m["id"] for m in received] == list(range(1, MESSAGES + 1))

        # Now the slow one reads: a gapless prefix of the room, then the close.
        left = await frames_until_closed(slow)
        seen = [frame["id"] for frame in left if frame["type"] == "message"]
        assert slow.close_code == 1013
        assert seen == list(range(1, len(seen) + 1))
        assert len(seen) < MESSAGES

    # Counted at /metrics once the connection's handler has finished.
    registry = server.app.state.metrics.registry
    for _ in range(200):
        if registry.get_sample_value("gochat_ws_slow_client_disconnects_total"):
            break
        await asyncio.sleep(0.01)
    assert registry.get_sample_value("gochat_ws_slow_client_disconnects_total") >= 1
