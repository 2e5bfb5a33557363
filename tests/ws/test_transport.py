"""The non-awaiting frame writer is tied to one uvicorn version: the lock must pin it. The
protocol's one-reader inbox, and that an open connection keeps it and no handshake objects."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.support.servers import ThreadServer
from tests.support.users import Account
from tests.ws.chat_client import create_room, join, until_ready
from ws_service.delivery import transport
from ws_service.delivery.transport import GoChatWebSocketProtocol, Inbox, WritableGate

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"


def test_the_lock_and_the_package_pin_the_uvicorn_version_the_writer_was_written_for() -> None:
    pinned = re.search(r"^uvicorn==([^\s\\]+)", LOCK.read_text(), re.MULTILINE)
    declared = re.search(r'"uvicorn\[standard\]==([^"]+)"', PYPROJECT.read_text())
    assert pinned is not None
    assert declared is not None
    assert pinned.group(1) == declared.group(1) == transport.TESTED_UVICORN == uvicorn.__version__


def test_another_uvicorn_gets_the_stock_protocol(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert transport.websocket_protocol() is transport.GoChatWebSocketProtocol
    monkeypatch.setattr(uvicorn, "__version__", "99.0.0")
    assert transport.websocket_protocol() == "websockets-sansio"
    assert "plain ASGI sends" in caplog.text


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


async def test_an_open_connection_keeps_the_light_inbox_and_no_handshake_objects(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, alice: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix="")
    async with join(chat_server.url, room_id, alice, prefix="") as ws:
        await until_ready(ws)
        open_connections = [
            c
            for c in chat_server.server.server_state.connections
            if isinstance(c, GoChatWebSocketProtocol) and c.handshake_complete and not c.close_sent
        ]
        assert open_connections
        for connection in open_connections:
            assert isinstance(connection.queue, Inbox)
            assert not hasattr(connection, "request") and not hasattr(connection, "response")
            # Nor their headers: not in the scope, nor in websockets' parser (whose generator
            # frame holds the parsed request for the connection's lifetime).
            assert connection.scope["headers"] == []
            parser_request = connection.conn.parser.gi_frame.f_locals["request"]
            assert len(parser_request.headers) == 0


def _waiting_under(task: asyncio.Task[None]) -> list[str]:
    """`module:function` of every coroutine a task is suspended in, outermost first."""
    chain: list[str] = []
    coro: object = task.get_coro()
    while (frame := getattr(coro, "cr_frame", None)) is not None:
        chain.append(f"{frame.f_globals.get('__name__')}:{frame.f_code.co_name}")
        coro = coro.cr_await  # type: ignore[attr-defined]
    return chain


async def test_an_open_socket_waits_below_the_middleware_stack_and_router(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, alice: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix="")
    async with join(chat_server.url, room_id, alice, prefix="") as ws:
        await until_ready(ws)
        chains = [_waiting_under(task) for task in list(chat_server.server.server_state.tasks)]
        sockets = [c for c in chains if any(":join_room" in name for name in c)]
        assert sockets
        for chain in sockets:
            assert "ws_service.connection.dispatch:__call__" in chain
            framework = [n for n in chain if n.startswith(("starlette.middleware", "fastapi."))]
            assert framework == [], chain
            assert not any(n.startswith("starlette.routing") for n in chain), chain
        protocols = [
            c
            for c in chat_server.server.server_state.connections
            if isinstance(c, GoChatWebSocketProtocol) and c.handshake_complete
        ]
        assert all(isinstance(c.writable, WritableGate) for c in protocols)


async def test_the_writable_gate_wakes_every_waiter_when_set() -> None:
    gate = WritableGate()
    assert gate.is_set() and await gate.wait()
    gate.clear()
    waiters = [asyncio.create_task(gate.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True]
