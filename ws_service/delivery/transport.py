"""uvicorn's sans-I/O websocket protocol, plus a writer that does not await.

ASGI has no "write these framed bytes now" call: `await send(...)` per member per message is
most of a naive hub's cost (bench/TUNING.md has the numbers). This subclass offers the app,
through the ASGI scope extension `gochat.frame_sink`, the connection itself as a `FrameSink`:
`try_write` puts already-framed messages on the transport when it is not pushing back,
`write` waits for it to drain, `close` closes at once and aborts a peer that never reads.

It relies on the internals of one uvicorn version (`TESTED_UVICORN`); `websocket_protocol()`
falls back to the stock protocol, and the app to plain ASGI sends, on any other version.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from ws_service.delivery.sinks import SINK_EXTENSION, ClientGone, OutgoingFrames

logger = logging.getLogger("gochat.ws.transport")

TESTED_UVICORN = "0.54.0"
# How long a closed connection may take to acknowledge the close before it is cut.
CLOSE_GRACE_SECONDS = 5.0


class Inbox:
    """What uvicorn's protocol uses of `asyncio.Queue` (`put_nowait`, `get`, `empty`) for its
    one reader, the app's `receive`, in a tenth of the memory: a Queue holds three deques of
    about 600 bytes each, and an idle connection keeps its inbox for hours."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    async def get(self) -> Any:
        if self._waiter is not None:
            raise RuntimeError("a websocket inbox has one reader at a time")
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class WritableGate:
    """What uvicorn's protocol uses of `asyncio.Event` for `writable` (`set`, `clear`,
    `is_set`, `wait`) without the Event's deque of waiters (~700 bytes a connection): a
    transport that pushes back is rare, so the waiters' list is made only then. As with an
    Event, `set` wakes every waiter."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class GoChatWebSocketProtocol(WebSocketsSansIOProtocol):
    """A connection that is also its own `FrameSink` (see ws_service.delivery.sinks), with a lighter
    inbox than uvicorn's `asyncio.Queue` and a lighter `writable` than its `asyncio.Event`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = WritableGate()  # type: ignore[assignment]
        self._app_done = False

    async def run_asgi(self) -> None:
        try:
            await super().run_asgi()
        finally:
            self._app_done = True
            self._release()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._release()

    def _release(self) -> None:
        """Once the app has returned and the peer is gone, breaks the two reference cycles a
        connection is left in: the scope's sink (ours) and websockets' parser, a generator
        that stays suspended at its last `yield` holding its protocol. Without this a closed
        connection is freed only by a full collection, and not at all while it is frozen
        (shared.pauses): ~22 objects a socket that the collector would otherwise walk."""
        if not (self._app_done and self.disconnected):
            return
        extensions = self.scope.get("extensions") if self.scope is not None else None
        if extensions:
            extensions.pop(SINK_EXTENSION, None)
        self.conn.parser.close()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.handshake_initiated and not self.handshake_complete:
            # The app has been started for this request and has not run yet.
            self.scope["extensions"][SINK_EXTENSION] = {"sink": self}

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's headers are not needed once it is answered (the app read them
            # while admitting the socket), yet three copies live as long as the connection:
            # uvicorn's request and response, the request in websockets' parser (a local of
            # its generator, out of reach but for its contents) and the scope's list, which
            # Starlette's `Headers` share. ~4.7 KB a socket with a short client's headers.
            self.request.headers.clear()
            if isinstance(headers := self.scope["headers"], list):
                headers.clear()
            del self.request, self.response
        elif message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            # A refused handshake is complete: uvicorn 0.54 would log an error for it.
            self.handshake_complete = True

    def _open(self) -> bool:
        return (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.conn.state is State.OPEN
            and not self.transport.is_closing()
        )

    def try_write(self, frames: OutgoingFrames) -> bool:
        if not self.writable.is_set() or not self._open():
            return False
        self.transport.write(frames.wire)
        return True

    async def write(self, frames: OutgoingFrames) -> None:
        await self.writable.wait()
        if not self._open():
            raise ClientGone
        self.transport.write(frames.wire)

    def close(self, code: int, reason: str) -> None:
        """Like the app sending `websocket.close`, without waiting for the send buffer; a
        peer that does not read our close within the grace period is aborted."""
        if not self._open():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(CLOSE_GRACE_SECONDS, self.transport.abort)

    async def aclose(self) -> None:
        return None


def websocket_protocol() -> type[asyncio.Protocol] | str:
    """For uvicorn's `ws` setting: ours on the uvicorn version it was written against."""
    if uvicorn.__version__ == TESTED_UVICORN:
        return GoChatWebSocketProtocol
    logger.warning(
        "uvicorn %s is not %s: serving websockets through plain ASGI sends (slower)",
        uvicorn.__version__,
        TESTED_UVICORN,
    )
    return "websockets-sansio"
