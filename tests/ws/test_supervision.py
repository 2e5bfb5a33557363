"""A chat instance whose message writer died: /readyz names it, senders are told
`unavailable`, and the process is stopped (here a callback stands in for SIGTERM, which
tests/shared/test_supervision.py checks for real)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.conftest import make_settings
from tests.support.servers import ThreadServer, wait_until_ready
from tests.support.users import register
from tests.ws.chat_client import create_room, join, next_of, send_message, until_ready
from ws_service.app import create_app


async def test_a_dead_message_writer_makes_the_instance_unready_and_stops_it(
    database_url: str, data_dir: Path, client: httpx.AsyncClient
) -> None:
    alice = await register(client, "writer")
    room_id = await create_room(client, alice)
    stopped = threading.Event()
    settings = make_settings(database_url, data_dir)
    app = create_app(settings, stop_process=stopped.set)
    server = ThreadServer(app, settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            await wait_until_ready(http)
            async with join(server.url, room_id, alice, prefix="") as ws:
                await until_ready(ws)
                writer = app.state.chat.store._writer  # ended as a bug would end it
                writer.get_loop().call_soon_threadsafe(writer.cancel)
                await send_message(ws, "into the void?")
                refused = await next_of(ws, "error")
                assert refused["code"] == "unavailable"
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"]["ws-message-writer"] == "stopped"
            assert stopped.wait(timeout=10)
    finally:
        server.stop()
