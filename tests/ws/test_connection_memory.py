"""What GoChat's websocket protocol keeps per connection: a one-reader inbox instead of an
asyncio.Queue, and no handshake objects once a connection is accepted."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.servers import ThreadServer
from tests.support.users import Account
from tests.ws.chat_client import create_room, join, until_ready
from ws_service.transport import GoChatWebSocketProtocol, Inbox


async def test_inbox_hands_items_over_in_order_and_wakes_its_reader() -> None:
    inbox = Inbox()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert (inbox.qsize(), inbox.empty()) == (2, False)
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(3)
    assert await asyncio.wait_for(reader, 1) == 3


async def test_inbox_has_one_reader_and_a_cancelled_reader_leaves_no_trace() -> None:
    inbox = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await inbox.get()
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    inbox.put_nowait("after")
    assert await asyncio.wait_for(inbox.get(), 1) == "after"


async def test_an_open_connection_keeps_no_handshake_objects(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, alice: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix="")
    async with join(chat_server.url, room_id, alice, prefix="") as ws:
        await until_ready(ws)
        connections = [
            c
            for c in chat_server.server.server_state.connections
            if isinstance(c, GoChatWebSocketProtocol) and c.handshake_complete and not c.close_sent
        ]
        assert connections
        for connection in connections:
            assert isinstance(connection.queue, Inbox)
            assert connection.request is None and connection.response is None
