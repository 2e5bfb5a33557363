"""A closed socket is freed by its reference count, not left for the cyclic collector: the
chat service freezes long-lived objects out of the collector's sight (shared.pauses), and a
frozen reference cycle would stay until the next collection over everything."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import ThreadServer
from tests.support.users import Account
from tests.ws.chat_client import join, messages, send_message, until_ready
from ws_service.delivery.transport import GoChatWebSocketProtocol


@pytest.fixture
def collector_off() -> Iterator[None]:
    """Nothing but reference counts frees objects meanwhile (an explicit `gc.collect()`
    still would: the server's pause monitor calls it only for crowds of hundreds)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def server_sockets(room_id: str) -> list[weakref.ref[GoChatWebSocketProtocol]]:
    path = f"/ws/joinRoom/{room_id}"
    return [
        weakref.ref(o)
        for o in gc.get_objects()
        if type(o) is GoChatWebSocketProtocol and o.scope and o.scope.get("path") == path
    ]


async def test_closed_sockets_leave_no_reference_cycle(
    chat_server: ThreadServer,
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    room_id: str,
    collector_off: None,
) -> None:
    async with join(chat_server.url, room_id, alice, prefix="") as a:
        await until_ready(a)
        async with join(chat_server.url, room_id, bob, prefix="") as b:
            await until_ready(b)
            await send_message(a, "hello")
            await messages(b, 1)
            sockets = server_sockets(room_id)
            assert len(sockets) == 2
        # Bob closed with a close handshake; Alice's connection is cut without one.
        a.transport.abort()
    for _ in range(100):
        if all(ref() is None for ref in sockets):
            break
        await asyncio.sleep(0.05)
    alive = [ref() for ref in sockets]
    assert alive == [None, None], [
        (p.disconnected, p.conn.state, [type(r).__name__ for r in gc.get_referrers(p)])
        for p in alive
        if p is not None
    ]
