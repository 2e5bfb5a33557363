"""One websocket connection as the delivery side sees it: who it is and how frames reach it.
`Outlet` is any server-to-client stream (a person's `/ws/events`); `Subscriber` is one in
a room, as the hub sees it.

Delivery rules (plain code, tested without a socket):
- While the client keeps up, a frame is written straight to its connection, without awaiting
  and without waking any task.
- When the connection pushes back, frames wait in the client's bounded queue and a writer
  task drains it; once anything is queued everything after it queues too, so order holds.
- A client whose queue is full when another frame arrives is closed with 1013: one slow
  reader never slows the room.
- Until `go_live` (history is being sent), live frames are queued behind the history.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque

from shared.tasks import cancel_and_wait
from ws_service.connection.close_codes import CLOSE_NORMAL, CLOSE_TRY_AGAIN_LATER
from ws_service.delivery.sinks import ClientGone, FrameSink, OutgoingFrames


class Outlet:
    __slots__ = (
        "_live",
        "_queue",
        "_queue_limit",
        "_queued_frames",
        "_writer",
        "close_code",
        "session_id",
        "sink",
        "user_id",
    )

    def __init__(
        self, sink: FrameSink, *, user_id: int, session_id: uuid.UUID, queue_limit: int
    ) -> None:
        self.sink = sink
        self.user_id = user_id
        self.session_id = session_id
        self.close_code: int | None = None
        self._queue_limit = queue_limit
        # None while nothing waits: the fast path allocates nothing per client.
        self._queue: deque[OutgoingFrames] | None = deque()
        self._queued_frames = 0
        self._live = False
        self._writer: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def queued(self) -> int:
        """Frames waiting for the connection."""
        return self._queued_frames

    def deliver(self, frames: OutgoingFrames) -> None:
        """Never awaits: write now, or queue behind what is already waiting."""
        queue = self._queue
        if queue is None:
            if self.sink.try_write(frames):
                return
            if self.close_code is not None:
                return
            queue = self._queue = deque()
        elif self.close_code is not None:
            return
        if self._queued_frames + len(frames) > self._queue_limit:
            self.close(CLOSE_TRY_AGAIN_LATER, "too slow: outgoing queue full")
            return
        queue.append(frames)
        self._queued_frames += len(frames)
        if self._live and self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="ws-client-writer")

    async def send_before_live(self, frames: OutgoingFrames) -> None:
        """History and `ready`: written ahead of the live frames queued meanwhile."""
        if not self.sink.try_write(frames):
            await self.sink.write(frames)

    def go_live(self) -> None:
        """History is out: release the live frames queued behind it, then write directly."""
        self._live = True
        if self.close_code is not None:
            return
        if self._queue:
            self._writer = asyncio.create_task(self._drain(), name="ws-client-writer")
        else:
            self._queue = None

    async def _drain(self) -> None:
        queue = self._queue
        try:
            while queue:
                frames = queue[0]
                if not self.sink.try_write(frames):
                    await self.sink.write(frames)
                    if self.close_code is not None:  # closed meanwhile: the queue is cleared
                        return
                queue.popleft()
                self._queued_frames -= len(frames)
        except ClientGone:
            if self.close_code is None:  # keep the code of a close we chose (e.g. 1013)
                self.close_code = 1006  # the connection went away; its handler is leaving
            self._drop_queue()
            return
        finally:
            self._writer = None
        self._queue = None  # caught up: back to direct writes

    def close(self, code: int, reason: str) -> None:
        """Idempotent; drops what is queued. The connection's handler then sees a disconnect
        and unregisters the client."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._drop_queue()
        self.sink.close(code, reason)

    def _drop_queue(self) -> None:
        if self._queue is not None:
            self._queue.clear()
        self._queued_frames = 0

    async def aclose(self) -> None:
        """The handler's last word: close (if nothing did yet), stop the writer, and wait
        for the close to finish."""
        self.close(CLOSE_NORMAL, "")
        writer = self._writer
        if writer is not asyncio.current_task():
            await cancel_and_wait(writer)
        await self.sink.aclose()


class Subscriber(Outlet):
    """A connection in one room."""

    __slots__ = ("room_id", "username")

    def __init__(
        self,
        sink: FrameSink,
        *,
        room_id: str,
        user_id: int,
        username: str,
        session_id: uuid.UUID,
        queue_limit: int,
    ) -> None:
        super().__init__(sink, user_id=user_id, session_id=session_id, queue_limit=queue_limit)
        self.room_id = room_id
        self.username = username
