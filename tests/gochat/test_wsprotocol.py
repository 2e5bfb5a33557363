"""The non-awaiting frame writer that `gochat serve` offers websocket apps (gochat.wsprotocol)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from gochat import wsprotocol
from gochat.wsprotocol import EXTENSION, FrameWriter, text_frame
from shared.settings import Settings
from tests.support.servers import ThreadServer


def echo_app() -> FastAPI:
    """Each text received is written back through the frame writer, framed once; "stuff N"
    writes N frames of 60 KiB without reading in between and answers how many it took."""
    app = FastAPI()
    app.state.writers = []

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        writer: FrameWriter | None = websocket.scope["extensions"].get(EXTENSION)
        await websocket.accept()
        if writer is None:
            await websocket.send_text("no writer")
            await websocket.close()
            return
        app.state.writers.append(writer)
        try:
            while True:
                text = await websocket.receive_text()
                if text.startswith("stuff "):
                    frame = text_frame(b"x" * 60_000)
                    taken = 0
                    while taken < int(text.split()[1]) and writer.try_write(frame):
                        taken += 1
                    await websocket.send_text(f"taken {taken} writable {writer.writable}")
                else:
                    assert writer.try_write(text_frame(text.encode()))
        except WebSocketDisconnect:
            pass

    return app


@pytest.fixture
def echo_server(settings: Settings) -> Iterator[ThreadServer]:
    server = ThreadServer(echo_app(), settings).start()
    yield server
    server.stop()


async def test_frames_written_without_awaiting_arrive_whole_and_in_order(
    echo_server: ThreadServer,
) -> None:
    texts = ["a", "é" * 100, "z" * 126, "y" * 65_535, "w" * 65_536 * 2, "last"]
    async with websockets.connect(echo_server.ws_url + "/ws", max_size=2**20) as ws:
        for text in texts:
            await ws.send(text[:60_000])
        received = [await asyncio.wait_for(ws.recv(), 10) for _ in texts]
    assert received == [text[:60_000] for text in texts]


async def test_writer_refuses_when_the_client_does_not_read_then_after_close(
    echo_server: ThreadServer,
) -> None:
    async with websockets.connect(echo_server.ws_url + "/ws", max_size=2**20) as ws:
        # The client reads nothing while 200 frames of 60 KiB are offered: the transport pushes back
        # long before, and the writer says so instead of buffering without bound.
        ws.transport.pause_reading()
        await ws.send("stuff 200")
        await asyncio.sleep(0.5)
        ws.transport.resume_reading()
        reply = ""
        while not reply.startswith("taken"):
            reply = str(await asyncio.wait_for(ws.recv(), 10))
        taken = int(reply.split()[1])
        assert 0 < taken < 200
        assert reply.endswith("writable False")
    writer = echo_server.app.state.writers[-1]
    for _ in range(100):
        if not writer.writable:
            break
        await asyncio.sleep(0.02)
    assert writer.try_write(text_frame(b"gone")) is False


def test_text_frame_headers() -> None:
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert text_frame(b"x" * 65_536)[:10] == b"\x81\x7f" + (65_536).to_bytes(8, "big")


def test_other_uvicorn_versions_get_the_stock_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    assert wsprotocol.protocol_class() is wsprotocol.FrameWriterProtocol
    monkeypatch.setattr(uvicorn, "__version__", "0.0.1")
    assert wsprotocol.protocol_class() is not wsprotocol.FrameWriterProtocol
