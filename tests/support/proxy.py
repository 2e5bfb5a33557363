"""A TCP forwarder on loopback that a test can cut and restore, to take PostgreSQL or Redis
away from a server under test without touching the real one (other test runs share it)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.support.servers import free_port


@dataclass
class CuttableProxy:
    """Forwards 127.0.0.1:`port` to `target`. `cut()` closes the listener and every open
    connection (the server went away: connects are refused, queries fail mid-flight);
    `restore()` listens again. Runs its own event loop in a thread."""

    target_host: str
    target_port: int
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    def start(self, *, listening: bool = True) -> CuttableProxy:
        self._thread.start()
        if listening:
            self.restore()
        return self

    def stop(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def restore(self) -> None:
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def url_for(self, url: str) -> str:
        """`url` with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@" if credentials else ""
        return parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}").geturl()

    def _call(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for pipe in tuple(self._pipes):
            pipe.cancel()
        for pipe in tuple(self._pipes):
            with contextlib.suppress(asyncio.CancelledError):
                await pipe

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._server is None:  # accepted just before a cut: cut with the rest
            writer.close()
            return
        self._pipes.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            # A cut may cancel this while the upstream connection is being made: the connect
            # goes on, and what it opens is closed, not left for the garbage collector.
            connecting = asyncio.ensure_future(
                asyncio.open_connection(self.target_host, self.target_port)
            )
            try:
                upstream_reader, upstream = await asyncio.shield(connecting)
            except asyncio.CancelledError:
                connecting.add_done_callback(_close_if_connected)
                raise
            upstream_writer = upstream
            async with asyncio.TaskGroup() as group:
                group.create_task(_pump(reader, upstream))
                group.create_task(_pump(upstream_reader, writer))
        except* OSError:
            pass
        finally:
            writer.close()
            if upstream_writer is not None:
                upstream_writer.close()
            self._pipes.discard(task)


def _close_if_connected(
    connecting: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
) -> None:
    if not connecting.cancelled() and connecting.exception() is None:
        connecting.result()[1].close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


@contextmanager
def cuttable(url: str, *, listening: bool = True) -> Iterator[CuttableProxy]:
    """A proxy in front of the server that `url` names."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port, url
    proxy = CuttableProxy(parts.hostname, parts.port).start(listening=listening)
    try:
        yield proxy
    finally:
        proxy.stop()
