"""The chat protocol end to end: frames, history, resume, limits."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.ws.chat_client import (
    close_code,
    create_room,
    join,
    messages,
    next_of,
    recv,
    send_message,
    until_ready,
)
from tests.ws.conftest import RESUME_MAX


async def test_a_message_reaches_everyone_stored_and_numbered(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as a, join(dev_server.url, room_id, bob) as b:
        assert await until_ready(a) == (
            [],
            {"type": "ready", "room_id": room_id, "last_id": 0, "truncated": False},
        )
        await until_ready(b)
        await send_message(a, "hello")
        for ws in (a, b):
            (frame,) = await messages(ws, 1)
            assert frame == {
                "type": "message",
                "id": 1,
                "room_id": room_id,
                "user_id": alice.id,
                "username": alice.username,
                "content": "hello",
                "created_at": frame["created_at"],
                "client_id": None,
                "edited_at": None,
                "deleted": False,
            }
            assert frame["created_at"].endswith("Z")
        await b.send("plain text is content")
        assert (await messages(a, 1))[0]["content"] == "plain text is content"
    async with join(dev_server.url, room_id, bob) as later:
        history, ready = await until_ready(later)
        assert [m["content"] for m in history] == ["hello", "plain text is content"]
        assert [m["id"] for m in history] == [1, 2] and ready["last_id"] == 2


async def test_join_and_leave_once_per_user_however_many_tabs(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as a:
        await until_ready(a)
        assert await recv(a) == {
            "type": "join",
            "room_id": room_id,
            "user_id": alice.id,
            "username": alice.username,
        }
        async with join(dev_server.url, room_id, bob) as tab1:
            await until_ready(tab1)
            joined = {
                "type": "join",
                "room_id": room_id,
                "user_id": bob.id,
                "username": bob.username,
            }
            assert await recv(a) == joined
            async with join(dev_server.url, room_id, bob) as tab2:
                await until_ready(tab2)
            await send_message(tab1, "marker")  # nothing came between: no second join, no leave
            assert (await recv(a))["type"] == "message"
        assert await recv(a) == {**joined, "type": "leave"}


async def test_history_is_the_last_50_in_order(
    chat_http: httpx.AsyncClient, chat_server: ThreadServer, alice: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix="")
    async with join(chat_server.url, room_id, alice, prefix="") as ws:
        await until_ready(ws)
        for n in range(1, 56):
            await send_message(ws, f"m{n}")
        await messages(ws, 55)
    async with join(chat_server.url, room_id, alice, prefix="") as ws:
        history, ready = await until_ready(ws)
    assert [m["id"] for m in history] == list(range(6, 56))
    assert [m["content"] for m in history] == [f"m{n}" for n in range(6, 56)]
    assert ready == {"type": "ready", "room_id": room_id, "last_id": 55, "truncated": False}


async def test_reconnecting_with_after_loses_and_repeats_nothing(
    chat_http: httpx.AsyncClient, chat_server: ThreadServer, alice: Account, bob: Account
) -> None:
    """Bob drops and comes back three times while Alice keeps sending."""
    room_id = await create_room(chat_http, alice, prefix="")
    # No more than a resume sends: on a slow machine Alice may be done before Bob is back,
    # and more missed messages would (rightly) be truncated to the newest.
    total = RESUME_MAX
    seen: list[int] = []

    async def sender() -> None:
        async with join(chat_server.url, room_id, alice, prefix="") as ws:
            await until_ready(ws)
            for n in range(total):
                await send_message(ws, f"m{n}")
                if n % 10 == 0:
                    await asyncio.sleep(0.01)
            await messages(ws, total)

    sending = asyncio.create_task(sender())
    last = 0
    for visit in range(4):
        async with join(chat_server.url, room_id, bob, prefix="", after=last) as ws:
            history, ready = await until_ready(ws)
            seen.extend(m["id"] for m in history)
            assert ready["last_id"] == (seen[-1] if seen else 0)
            left = total - len(seen)  # the sender may be done already
            live = await messages(ws, min(10, left) if visit < 3 else left)
            seen.extend(m["id"] for m in live)
            last = seen[-1]
    await sending
    assert seen == list(range(1, total + 1))


async def test_resume_beyond_the_bound_sends_the_newest_and_says_so(
    chat_http: httpx.AsyncClient, chat_server: ThreadServer, alice: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix="")
    async with join(chat_server.url, room_id, alice, prefix="") as ws:
        await until_ready(ws)
        for n in range(RESUME_MAX + 5):
            await send_message(ws, f"m{n}")
        await messages(ws, RESUME_MAX + 5)
    async with join(chat_server.url, room_id, alice, prefix="", after=2) as ws:
        history, ready = await until_ready(ws)
    assert [m["id"] for m in history] == list(range(6, RESUME_MAX + 6))
    assert ready["truncated"] is True and ready["last_id"] == RESUME_MAX + 5
    async with join(chat_server.url, room_id, alice, prefix="", after=RESUME_MAX) as ws:
        history, ready = await until_ready(ws)
    assert [m["id"] for m in history] == list(range(RESUME_MAX + 1, RESUME_MAX + 6))
    assert ready["truncated"] is False


async def test_a_repeated_client_id_is_stored_once_and_the_sender_gets_the_original(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as a, join(dev_server.url, room_id, bob) as b:
        await until_ready(a)
        await until_ready(b)
        await send_message(a, "once", client_id="key-1")
        (original,) = await messages(a, 1)
        await send_message(a, "once, retried", client_id="key-1")
        (again,) = await messages(a, 1)
        assert again == original and again["client_id"] == "key-1"
        await send_message(b, "bob may use the same key", client_id="key-1")
        await send_message(a, "next")
        received = [(m["id"], m["content"]) for m in await messages(b, 3)]
        assert received == [(1, "once"), (2, "bob may use the same key"), (3, "next")]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"type": "message"}', "bad_frame"),
        ('{"type": "typing", "room_id": "x"}', "bad_frame"),
        ('{"type": "message", "content": ["x"]}', "bad_frame"),
        ('{"type": "message", "content": "x", "client_id": 5}', "bad_frame"),
        ('{"type": "message", "content": ""}', "invalid_content"),
        ("   ", "invalid_content"),
        ("x" * 4001, "invalid_content"),
        ("nul \u0000 inside", "invalid_content"),
        ('{"type": "message", "content": "x", "client_id": "k\\u0000"}', "invalid_content"),
        (b"binary", "bad_frame"),
        ('{"type": "message", "content": "a\\u0000b"}', "invalid_content"),
        ("bell \x07", "invalid_content"),
        ("\u200b\u200b", "invalid_content"),
        ("\u202e \u200d", "invalid_content"),
    ],
)
async def test_refused_frames_get_an_error_and_the_connection_stays_open(
    client: httpx.AsyncClient,
    dev_server: ThreadServer,
    alice: Account,
    frame: str | bytes,
    code: str,
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as ws:
        await until_ready(ws)
        await ws.send(frame)
        error = await next_of(ws, "error")
        assert error["code"] == code and error["detail"]
        await send_message(ws, "still here")
        assert (await messages(ws, 1))[0]["id"] == 1


async def test_a_frame_over_64_kib_closes_with_1009(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as ws:
        await until_ready(ws)
        await ws.send("x" * (60 * 1024))  # under the frame limit: just too long a message
        assert (await next_of(ws, "error"))["code"] == "invalid_content"
        await ws.send("x" * (64 * 1024 + 1))
        assert await close_code(ws) == 1009


async def test_flooding_is_rate_limited_then_closed_with_1008(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with (
        join(dev_server.url, room_id, alice) as flooder,
        join(dev_server.url, room_id, bob) as other,
    ):
        await until_ready(flooder)
        await until_ready(other)
        for n in range(40):
            await send_message(flooder, f"m{n}")
        frames: list[dict[str, Any]] = []
        while sum(f["type"] in ("message", "error") for f in frames) < 40:
            frames.append(await recv(flooder))
        stored = [f for f in frames if f["type"] == "message"]
        limited = [f for f in frames if f["type"] == "error"]
        assert len(stored) >= 20  # the burst, and what refilled meanwhile (10 a second)
        assert limited and {e["code"] for e in limited} == {"rate_limited"}
        with contextlib.suppress(ConnectionClosed):
            for n in range(300):
                await send_message(flooder, f"flood {n}")
        assert await close_code(flooder) == 1008
        await send_message(other, "the room goes on")
        while (await next_of(other, "message"))["content"] != "the room goes on":
            pass


async def test_twenty_clients_fifty_messages_each_everyone_sees_one_order(
    chat_http: httpx.AsyncClient, chat_server: ThreadServer, client: httpx.AsyncClient
) -> None:
    accounts = [await register(client, f"c{n}") for n in range(20)]
    room_id = await create_room(chat_http, accounts[0], prefix="")
    per_client = 50
    total = per_client * len(accounts)

    async def chat(account: Account, ready: asyncio.Barrier) -> list[tuple[int, str]]:
        async with join(chat_server.url, room_id, account, prefix="", max_queue=None) as ws:
            await until_ready(ws)
            await ready.wait()
            for n in range(per_client):
                await send_message(ws, f"{account.username}:{n}")
            return [(m["id"], m["content"]) for m in await messages(ws, total, timeout=60)]

    barrier = asyncio.Barrier(len(accounts))
    received = await asyncio.gather(*(chat(account, barrier) for account in accounts))
    first = received[0]
    assert [seq for seq, _ in first] == list(range(1, total + 1))
    assert sorted(content for _, content in first) == sorted(
        f"{a.username}:{n}" for a in accounts for n in range(per_client)
    )
    for other in received[1:]:
        assert other == first
    for account in accounts:  # and each sender's messages kept their order
        mine = [content for _, content in first if content.startswith(account.username + ":")]
        assert mine == [f"{account.username}:{n}" for n in range(per_client)]
    orjson.dumps(first)  # plain data
