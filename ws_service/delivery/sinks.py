"""Writing a frame to one client: the small interface the hub and clients write through.

Two implementations:
- `ws_service.delivery.transport.GoChatWebSocketProtocol`: uvicorn's sans-I/O protocol with a writer
  that puts a ready-made frame on the socket without awaiting (`try_write`), used by
  `gochat serve|dev`;
- `AsgiFrameSink`: plain ASGI `send`, for any other server. It never writes synchronously,
  so every frame goes through the client's queue and writer task: correct, but slower.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected
from websockets.frames import Frame, Opcode

# The ASGI scope extension through which a server offers its own sink for the connection.
SINK_EXTENSION = "gochat.frame_sink"


class ClientGone(Exception):
    """The connection is closed or closing; nothing more can be written to it."""


class OutgoingFrames:
    """One or more text frames, JSON encoded once and shared by every member they go to.
    Their wire bytes (server frames are not masked, so the same for everyone) are made on
    first use: a transport takes all of them in one write, one system call per member
    however many messages a stored batch released."""

    __slots__ = ("_wire", "payloads")

    def __init__(self, *payloads: bytes) -> None:
        self.payloads = payloads
        self._wire: bytes | None = None

    def __len__(self) -> int:
        return len(self.payloads)

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = b"".join(
                Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
                for payload in self.payloads
            )
        return self._wire


class FrameSink(Protocol):
    def try_write(self, frames: OutgoingFrames) -> bool:
        """Write now without awaiting if the connection can take it; False otherwise (the
        caller queues the frames and lets `write` wait for room)."""

    async def write(self, frames: OutgoingFrames) -> None:
        """Write, waiting while the connection pushes back; `ClientGone` once closed."""

    def close(self, code: int, reason: str) -> None:
        """Start closing with `code` at once; the handler's `receive` then sees a disconnect."""

    async def aclose(self) -> None:
        """Wait for whatever `close` started (bounded)."""


CLOSE_TIMEOUT_SECONDS = 5.0


class AsgiFrameSink:
    """The portable sink: ASGI `send` for everything."""

    __slots__ = ("_closing", "_websocket")

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._closing: asyncio.Task[None] | None = None

    def try_write(self, frames: OutgoingFrames) -> bool:
        return False

    async def write(self, frames: OutgoingFrames) -> None:
        if self._closing is not None:
            raise ClientGone
        try:
            for payload in frames.payloads:
                await self._websocket.send_text(payload.decode())
        except (WebSocketDisconnect, WebSocketDisconnected, OSError) as exc:
            raise ClientGone from exc

    def close(self, code: int, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(code, reason), name="ws-close")

    async def _close(self, code: int, reason: str) -> None:
        # A client that reads nothing can hold the close frame behind a full buffer forever.
        with contextlib.suppress(
            WebSocketDisconnect, WebSocketDisconnected, OSError, RuntimeError, TimeoutError
        ):
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self._websocket.close(code, reason)

    async def aclose(self) -> None:
        if self._closing is not None:
            await self._closing


def frame_sink(websocket: WebSocket) -> FrameSink:
    """The server's own sink when it offers one, else plain ASGI sends."""
    extension = websocket.scope.get("extensions", {}).get(SINK_EXTENSION)
    if extension is not None:
        sink: FrameSink = extension["sink"]
        return sink
    return AsgiFrameSink(websocket)
