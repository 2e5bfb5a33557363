"""uvicorn's sans-I/O websocket protocol with one addition: a non-awaiting frame writer.

ASGI has no "write these framed bytes" call: every `websocket.send` is an awaited message that
the server frames again for every member of a room. A broadcast to 1,000 sockets is then
1,000 awaits and 1,000 encodings of the same bytes. This protocol offers the app, in
`scope["extensions"]["gochat.frame_writer"]`, a `FrameWriter` whose `try_write(frame)` puts
an already framed message on the transport synchronously when the connection is open and its
transport is not pushing back, and says False otherwise, so the caller takes its slow path
(a bounded queue and an awaited `websocket.send`). Server frames are not masked, so one
`text_frame(payload)` serves every member.

It reads uvicorn's protocol state (`conn`, `transport`, `writable`, `close_sent`,
`disconnected`), which is not a public API: `protocol_class()` uses it only with the uvicorn
version it was written and tested against (`TESTED_UVICORN`, the version in
requirements.lock) and falls back to the stock protocol otherwise.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

EXTENSION = "gochat.frame_writer"
TESTED_UVICORN = "0.54.0"

logger = logging.getLogger("gochat.ws")


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame (RFC 6455 §5.2) carrying `payload` (UTF-8)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


class FrameWriter:
    """Writes framed bytes straight to one connection's transport, never waiting."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: FrameWriterProtocol) -> None:
        self._protocol = protocol

    def try_write(self, frame: bytes) -> bool:
        """True when the frame was handed to the transport; False when the connection is not
        open or its transport is over its high-water mark (the caller must then queue)."""
        protocol = self._protocol
        if (
            protocol.disconnected
            or protocol.close_sent
            or not protocol.writable.is_set()
            or protocol.conn.state is not State.OPEN
        ):
            return False
        protocol.transport.write(frame)
        return True

    @property
    def writable(self) -> bool:
        protocol = self._protocol
        return not (protocol.disconnected or protocol.close_sent) and protocol.writable.is_set()


class FrameWriterProtocol(WebSocketsSansIOProtocol):
    """The stock sans-I/O protocol, plus a `FrameWriter` in the scope's extensions."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:  # absent when the handshake was refused
            scope["extensions"][EXTENSION] = FrameWriter(self)


def protocol_class() -> type[WebSocketsSansIOProtocol]:
    """The protocol `gochat serve` gives uvicorn: ours on the tested uvicorn, stock otherwise."""
    if uvicorn.__version__ != TESTED_UVICORN:
        logger.warning(
            "uvicorn %s is not the tested %s: websocket broadcasts use the awaited path",
            uvicorn.__version__,
            TESTED_UVICORN,
        )
        return WebSocketsSansIOProtocol
    return FrameWriterProtocol
