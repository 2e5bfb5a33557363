"""One socket's read markers, coalesced: a client may report `read` with every message it
shows, but the database sees at most one marker write per socket per interval.

The first report is written at once; reports that arrive while a write is running or within
`interval` of the last one wait, and only the highest of them is written next. When the
socket closes, a report still waiting is written before the socket's handler ends (bounded
by `FLUSH_TIMEOUT_SECONDS`), so a tab that reads and closes keeps its marker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from shared.tasks import cancel_and_wait

logger = logging.getLogger("gochat.ws.read_marker")

INTERVAL_SECONDS = 1.0
FLUSH_TIMEOUT_SECONDS = 2.0

WriteMarker = Callable[[int], Awaitable[None]]


class ReadMarkerWriter:
    __slots__ = ("_interval", "_pending", "_task", "_wake", "_write", "writes")

    def __init__(self, write: WriteMarker, *, interval: float = INTERVAL_SECONDS) -> None:
        """`write(up_to)` commits a marker and announces it; what it raises is logged and
        the marker is dropped (the client reports again with its next message)."""
        self._write = write
        self._interval = interval
        self._pending: int | None = None
        # Made with the writer task, on the first report: most sockets never report (an
        # Event is ~700 bytes, kept as long as the socket).
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.writes = 0  # markers written, for tests and measurements

    def report(self, up_to: int) -> None:
        """Never waits: the socket goes on reading frames."""
        if self._pending is None or up_to > self._pending:
            self._pending = up_to
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._task is None:
            self._task = asyncio.create_task(self._run(self._wake), name="ws-read-marker")
        self._wake.set()

    async def _run(self, wake: asyncio.Event) -> None:
        while True:
            await wake.wait()
            wake.clear()
            await self._write_pending()
            await asyncio.sleep(self._interval)

    async def _write_pending(self) -> None:
        up_to, self._pending = self._pending, None
        if up_to is None:
            return
        self.writes += 1
        try:
            await self._write(up_to)
        except asyncio.CancelledError:  # the socket closed mid-write: `aclose` writes it
            self._pending = up_to if self._pending is None else max(up_to, self._pending)
            raise
        except Exception:
            logger.warning("read marker not written", exc_info=True)

    async def aclose(self) -> None:
        """Stops the writer task, then writes what still waits."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._pending is not None:
            try:
                await asyncio.wait_for(self._write_pending(), FLUSH_TIMEOUT_SECONDS)
            except TimeoutError:
                logger.warning("read marker not written before the socket closed")
