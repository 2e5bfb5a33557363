"""A `FrameSink` in memory, for the delivery rules tested without a socket."""

from __future__ import annotations

import asyncio

from ws_service.delivery.sinks import ClientGone, OutgoingFrames


class MemorySink:
    """A connection whose send buffer is either open or full."""

    def __init__(self) -> None:
        self.written: list[bytes] = []  # frame payloads, in order
        self.writes = 0
        self.closed_with: int | None = None
        self.open = asyncio.Event()
        self.open.set()

    def try_write(self, frames: OutgoingFrames) -> bool:
        if self.closed_with is not None or not self.open.is_set():
            return False
        self.writes += 1
        self.written.extend(frames.payloads)
        return True

    async def write(self, frames: OutgoingFrames) -> None:
        await self.open.wait()
        if self.closed_with is not None:
            raise ClientGone
        self.writes += 1
        self.written.extend(frames.payloads)

    def close(self, code: int, reason: str) -> None:
        self.closed_with = code

    async def aclose(self) -> None:
        return None

    def texts(self) -> list[str]:
        return [payload.decode() for payload in self.written]
