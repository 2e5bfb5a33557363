"""Scrollback, edit and delete as events in the room's sequence, and tombstones: through
real servers and sockets (`GET/PATCH/DELETE /ws/rooms/{id}/messages`, `edit`/`delete`
frames, `?after=` resume)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import ClientConnection

from shared.database import unit_of_work
from shared.models import Message
from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.ws.chat_client import (
    create_room,
    join,
    next_of,
    next_page,
    recv,
    send_message,
    until_ready,
)
from tests.ws.conversations import Api

CHAT = "/chat/ws"


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(orjson.dumps(frame).decode())


async def post(ws: ClientConnection, content: str) -> dict[str, Any]:
    """Sends a message and waits for it to come back stored."""
    await send_message(ws, content)
    while True:
        frame = await next_of(ws, "message")
        if frame["content"] == content:
            return frame


async def edit(ws: ClientConnection, target: int, content: str) -> None:
    await send(ws, {"type": "edit", "target": target, "content": content})


async def delete(ws: ClientConnection, target: int) -> None:
    await send(ws, {"type": "delete", "target": target})


async def error_code(ws: ClientConnection) -> str:
    frame = await next_of(ws, "error")
    code: str = frame["code"]
    return code


async def rows(sessionmaker: async_sessionmaker[AsyncSession], room_id: str) -> dict[int, Message]:
    async with unit_of_work(sessionmaker) as db:
        found = await db.execute(select(Message).where(Message.room_id == room_id))
        return {message.seq: message for message in found.scalars()}


# -- scrollback ----------------------------------------------------------------------------


async def test_scrollback_walks_a_1000_message_room_without_skip_or_repeat_while_it_grows(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, client: httpx.AsyncClient
) -> None:
    alice = await register(client, "alice")
    room_id = await create_room(chat_http, alice, prefix="")
    async with join(chat_server.url, room_id, alice, prefix="") as ws:
        await until_ready(ws)
        for n in range(1000):
            await send_message(ws, f"m{n}")
        while (await next_of(ws, "message", timeout=60))["id"] < 1000:
            pass

        async def keep_sending() -> None:
            for n in range(300):
                await send_message(ws, f"late{n}")
                await asyncio.sleep(0.002)

        sender = asyncio.create_task(keep_sending())
        seen: list[int] = []
        url: str | None = f"/ws/rooms/{room_id}/messages?limit=37"
        pages = 0
        while url is not None:
            response = await chat_http.get(url, headers=alice.headers)
            assert response.status_code == 200, response.text
            page = [m["id"] for m in response.json()]
            assert page == sorted(page) and 1 <= len(page) <= 37  # oldest first
            seen = page + seen
            url = next_page(response)
            pages += 1
        await sender
    assert seen == list(range(1, seen[-1] + 1)) and seen[-1] >= 1000
    assert pages == -(-seen[-1] // 37)


async def test_scrollback_pages_link_and_bounds(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as ws:
        await until_ready(ws)
        for n in range(5):
            await post(ws, f"m{n}")
    url = f"{CHAT}/rooms/{room_id}/messages"
    newest = await client.get(url, params={"limit": 2}, headers=bob.headers)
    assert [m["content"] for m in newest.json()] == ["m3", "m4"]
    # Relative to the URL asked for: right under any prefix, host or port a gateway adds.
    assert newest.headers["link"] == '<?before=4&limit=2>; rel="next"'
    older = await client.get(url, params={"before": 2}, headers=bob.headers)
    assert [m["id"] for m in older.json()] == [1] and "link" not in older.headers
    default = await client.get(url, headers=alice.headers)
    assert len(default.json()) == 5 and "link" not in default.headers
    assert default.json()[0] == {
        "type": "message",
        "id": 1,
        "room_id": room_id,
        "user_id": alice.id,
        "username": alice.username,
        "content": "m0",
        "created_at": default.json()[0]["created_at"],
        "client_id": None,
        "edited_at": None,
        "deleted": False,
    }
    for params in ({"limit": 0}, {"limit": 101}, {"before": 0}, {"before": "x"}):
        assert (await client.get(url, params=params, headers=alice.headers)).status_code == 422
    async with httpx.AsyncClient(base_url=dev_server.url) as anonymous:
        assert (await anonymous.get(url)).status_code == 401
    missing = await client.get(f"{CHAT}/rooms/nosuchroom/messages", headers=alice.headers)
    assert missing.status_code == 404


async def test_scrollback_of_a_private_room_is_404_to_outsiders(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    api = Api(client, dev_server.url)
    room_id = await api.create(alice, private=True)
    url = f"{CHAT}/rooms/{room_id}/messages"
    assert (await client.get(url, headers=bob.headers)).status_code == 404
    assert (await client.get(url, headers=alice.headers)).status_code == 200


async def test_scrollback_is_403_to_someone_banned_from_the_room(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    api = Api(client, dev_server.url)
    room_id = await api.create(alice, private=False)
    url = f"{CHAT}/rooms/{room_id}/messages"
    assert (await client.get(url, headers=bob.headers)).status_code == 200  # public
    assert (await api.ban(alice, room_id, bob.id)).status_code == 200
    refused = await client.get(url, headers=bob.headers)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "you are banned from this room"}


# -- edit and delete over the socket -------------------------------------------------------


async def test_edits_and_deletes_reach_everyone_live_and_history_shows_the_current_state(
    client: httpx.AsyncClient,
    dev_server: ThreadServer,
    alice: Account,
    bob: Account,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as a, join(dev_server.url, room_id, bob) as b:
        await until_ready(a)
        await until_ready(b)
        first = await post(a, "helo")
        second = await post(a, "secret")
        await edit(a, first["id"], "hello")
        await delete(a, second["id"])
        await post(a, "after")
        frames = [await next_of(b, "message", "edit", "delete") for _ in range(5)]
    assert [f["id"] for f in frames] == [1, 2, 3, 4, 5]
    edited, deleted = frames[2], frames[3]
    assert edited == {
        "type": "edit",
        "id": 3,
        "room_id": room_id,
        "target": 1,
        "user_id": alice.id,
        "content": "hello",
        "edited_at": edited["edited_at"],
    }
    assert deleted == {
        "type": "delete",
        "id": 4,
        "room_id": room_id,
        "target": 2,
        "user_id": alice.id,
        "created_at": deleted["created_at"],
    }
    async with join(dev_server.url, room_id, bob) as later:
        history, ready = await until_ready(later)
    assert ready["last_id"] == 5  # events are covered
    assert [(m["id"], m["content"], m["deleted"]) for m in history] == [
        (1, "hello", False),
        (2, "", True),
        (5, "after", False),
    ]
    assert history[0]["edited_at"] == edited["edited_at"] and history[2]["edited_at"] is None
    stored = await rows(sessionmaker, room_id)
    assert stored[2].content == "" and stored[2].deleted  # gone, not hidden
    assert (stored[3].kind, stored[3].target_seq, stored[4].kind) == ("edit", 1, "delete")
    assert all(row.content == "" for row in (stored[3], stored[4]))
    assert [stored[seq].number for seq in range(1, 6)] == [1, 2, 2, 2, 3]


async def test_an_edit_and_a_delete_made_while_away_arrive_on_resume_once_in_order(
    client: httpx.AsyncClient,
    dev_server: ThreadServer,
    alice: Account,
    bob: Account,
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as a:
        await until_ready(a)
        for text in ("one", "two", "three"):
            await post(a, text)
        async with join(dev_server.url, room_id, bob) as b:
            _, ready = await until_ready(b)
        away_at = ready["last_id"]
        await edit(a, 1, "one, edited")
        await edit(a, 3, "three, edited")
        await delete(a, 3)
        await delete(a, 2)
        await post(a, "four")
    async with join(dev_server.url, room_id, bob, after=away_at) as b:
        replay, ready = await until_ready(b)
        await send_message(b, "bob is back")
        live = await next_of(b, "message")
    assert [(f["type"], f["id"], f.get("target"), f.get("content")) for f in replay] == [
        ("edit", 4, 1, "one, edited"),
        ("edit", 5, 3, ""),  # its target was deleted later: the content is gone
        ("delete", 6, 3, None),
        ("delete", 7, 2, None),
        ("message", 8, None, "four"),
    ]
    assert ready == {"type": "ready", "room_id": room_id, "last_id": 8, "truncated": False}
    assert live["id"] == 9  # nothing repeated after ready


async def test_who_may_edit_and_delete(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    """The author edits; the author, a moderator or the owner deletes; a member touches
    nobody else's; a deleted or unknown target, or an event, is not found."""
    carol = await register(client, "carol")
    api = Api(client, dev_server.url)
    room_id = await create_room(client, alice)
    async with (
        join(dev_server.url, room_id, alice) as a,
        join(dev_server.url, room_id, bob) as b,
        join(dev_server.url, room_id, carol) as c,
    ):
        for ws in (a, b, c):
            await until_ready(ws)
        alices = await post(a, "by alice")
        bobs = await post(b, "by bob")
        await edit(b, alices["id"], "hijacked")
        assert await error_code(b) == "forbidden"
        await delete(b, alices["id"])
        assert await error_code(b) == "forbidden"
        await edit(a, bobs["id"], "owner edits")  # owners delete, never edit others'
        assert await error_code(a) == "forbidden"
        assert (await api.set_role(alice, room_id, bob.id, "moderator")).status_code == 200
        carols = await post(c, "by carol")
        await delete(b, carols["id"])  # a moderator deletes others'
        assert (await next_of(c, "delete"))["target"] == carols["id"]
        await edit(c, carols["id"], "too late")
        assert await error_code(c) == "not_found"
        await delete(c, carols["id"])
        assert await error_code(c) == "not_found"
        for target in (999, 4):  # unknown; an event (the deletion above) is no message
            await edit(a, target, "x")
            assert await error_code(a) == "not_found"
        await delete(a, bobs["id"])  # the owner deletes
        deletions = [await next_of(b, "delete") for _ in range(2)]
        assert [d["target"] for d in deletions] == [carols["id"], bobs["id"]]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "edit", "target": 1}, "bad_frame"),
        ({"type": "edit", "target": 1, "content": "x", "extra": 1}, "bad_frame"),
        ({"type": "edit", "target": "1", "content": "x"}, "bad_frame"),
        ({"type": "edit", "target": True, "content": "x"}, "bad_frame"),
        ({"type": "edit", "target": 0, "content": "x"}, "bad_frame"),
        ({"type": "edit", "target": 1, "content": 5}, "bad_frame"),
        ({"type": "edit", "target": 1, "content": "  "}, "invalid_content"),
        ({"type": "edit", "target": 1, "content": "x" * 4001}, "invalid_content"),
        ({"type": "edit", "target": 1, "content": "a\u0000b"}, "invalid_content"),
        ({"type": "delete", "target": 1, "content": "x"}, "bad_frame"),
        ({"type": "delete", "target": 2**63}, "bad_frame"),
    ],
)
async def test_malformed_edit_and_delete_frames_are_refused(
    client: httpx.AsyncClient,
    dev_server: ThreadServer,
    alice: Account,
    frame: dict[str, Any],
    code: str,
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as a:
        await until_ready(a)
        await post(a, "original")
        await send(a, frame)
        assert await error_code(a) == code
        await edit(a, 1, "still works")
        assert (await next_of(a, "edit"))["content"] == "still works"


# -- REST ----------------------------------------------------------------------------------


async def test_rest_edit_and_delete_go_through_the_sequence_and_reach_sockets(
    client: httpx.AsyncClient,
    dev_server: ThreadServer,
    alice: Account,
    bob: Account,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    room_id = await create_room(client, alice)
    url = f"{CHAT}/rooms/{room_id}/messages"
    async with join(dev_server.url, room_id, bob) as b:
        await until_ready(b)
        async with join(dev_server.url, room_id, alice) as a:
            await until_ready(a)
            await post(a, "typo")
            await post(a, "oops")
        await post(b, "bob's")
        patched = await client.patch(f"{url}/1", json={"content": "fixed"}, headers=alice.headers)
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert (body["id"], body["content"], body["user_id"], body["deleted"]) == (
            1,
            "fixed",
            alice.id,
            False,
        )
        assert body["username"] == alice.username and body["edited_at"] is not None
        live = await next_of(b, "edit")
        assert (live["id"], live["target"], live["content"]) == (4, 1, "fixed")
        assert live["edited_at"] == body["edited_at"]
        assert (await client.delete(f"{url}/2", headers=alice.headers)).status_code == 204
        assert (await next_of(b, "delete"))["target"] == 2
    refusals = [
        (await client.patch(f"{url}/3", json={"content": "x"}, headers=alice.headers), 403),
        (await client.delete(f"{url}/3", headers=bob.headers), 204),
        (await client.delete(f"{url}/3", headers=bob.headers), 404),
        (await client.patch(f"{url}/2", json={"content": "x"}, headers=alice.headers), 404),
        (await client.patch(f"{url}/99", json={"content": "x"}, headers=alice.headers), 404),
        (await client.patch(f"{url}/1", json={"content": " "}, headers=alice.headers), 422),
        (await client.patch(f"{url}/1", json={"text": "x"}, headers=alice.headers), 422),
        (await client.patch(f"{url}/0", json={"content": "x"}, headers=alice.headers), 422),
        (await client.delete(f"{CHAT}/rooms/nosuch/messages/1", headers=bob.headers), 404),
    ]
    async with httpx.AsyncClient(base_url=dev_server.url) as anonymous:
        assert (await anonymous.delete(f"{url}/1")).status_code == 401
    assert [response.status_code for response, _ in refusals] == [want for _, want in refusals]
    stored = await rows(sessionmaker, room_id)
    assert (stored[1].content, stored[2].content, stored[3].content) == ("fixed", "", "")
    assert [stored[seq].kind for seq in range(1, 7)] == [
        "message",
        "message",
        "message",
        "edit",
        "delete",
        "delete",
    ]


async def test_rest_edit_and_delete_of_a_private_room_are_404_to_outsiders(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    api = Api(client, dev_server.url)
    room_id = await api.create(alice, private=True)
    async with join(dev_server.url, room_id, alice) as a:
        await until_ready(a)
        await post(a, "private")
    url = f"{CHAT}/rooms/{room_id}/messages/1"
    assert (await client.delete(url, headers=bob.headers)).status_code == 404
    patched = await client.patch(url, json={"content": "x"}, headers=bob.headers)
    assert patched.status_code == 404


# -- tombstones of deleted accounts --------------------------------------------------------


async def test_a_deleted_accounts_messages_are_tombstones_everywhere(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, bob)
    async with join(dev_server.url, room_id, alice) as a:
        await until_ready(a)
        await post(a, "alice was here")
        await edit(a, 1, "alice was here (edited)")
        await next_of(a, "edit")
    async with join(dev_server.url, room_id, bob) as b:
        await until_ready(b)
        assert (await client.delete("/users/delete", headers=alice.headers)).status_code == 204
        gone = await next_of(b, "account_gone")
        assert gone == {"type": "account_gone", "room_id": room_id, "user_id": alice.id}
    tombstone = {"user_id": None, "username": None, "content": "", "deleted": True}
    scrollback = await client.get(f"{CHAT}/rooms/{room_id}/messages", headers=bob.headers)
    assert [{k: m[k] for k in tombstone} for m in scrollback.json()] == [tombstone]
    async with join(dev_server.url, room_id, bob) as b:
        history, _ = await until_ready(b)
    assert [{k: m[k] for k in tombstone} for m in history] == [tombstone]
    async with join(dev_server.url, room_id, bob, after=0) as b:
        replay, _ = await until_ready(b)
    assert [(f["type"], f["user_id"], f["content"]) for f in replay] == [
        ("message", None, ""),
        ("edit", None, ""),
    ]


async def test_an_event_reaches_its_sender_once(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account
) -> None:
    """The sender gets its event from the hub with everyone else, and nothing more (no
    separate answer, no repeat)."""
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, alice) as a:
        await until_ready(a)
        await post(a, "x")
        await delete(a, 1)
        assert (await next_of(a, "delete"))["id"] == 2
        with pytest.raises(TimeoutError):
            await recv(a, timeout=0.3)
