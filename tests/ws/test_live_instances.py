"""Typing and the people's event streams across two `gochat serve ws` processes on one
database and one Redis, with a `gochat serve user` beside them publishing follows and posts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.support.servers import ProcessServer
from tests.support.users import Account, register
from tests.ws.chat_client import join, next_of, send_message, until_ready
from tests.ws.conversations import Api
from tests.ws.test_events import quiet, room_in, stream
from tests.ws.test_instances import instance_env, instances

__all__ = ["instance_env", "instances"]  # the two instances, shared with test_instances

pytestmark = [pytest.mark.slow, pytest.mark.redis]

Instances = tuple[ProcessServer, ProcessServer]


@pytest.fixture(scope="module")
def user_server(instance_env: dict[str, str]) -> Iterator[ProcessServer]:
    server = ProcessServer(["serve", "user"], instance_env).start()
    yield server
    server.stop()


async def make_room(client: httpx.AsyncClient, owner: Account, server: ProcessServer) -> str:
    api = Api(client, server.url)
    return await api.create(owner, private=False)


async def typing(ws: object) -> None:
    await ws.send(orjson.dumps({"type": "typing"}).decode())  # type: ignore[attr-defined]


async def test_typing_reaches_the_others_on_the_other_instance_throttled_never_stored(
    client: httpx.AsyncClient, instances: Instances, alice: Account, bob: Account
) -> None:
    first, second = instances
    room_id = await make_room(client, alice, first)
    async with (
        join(first.url, room_id, alice, prefix="") as alice_here,
        join(second.url, room_id, alice, prefix="") as alice_there,
        join(second.url, room_id, bob, prefix="") as bob_there,
    ):
        for ws in (alice_here, alice_there, bob_there):
            await until_ready(ws)
        for _ in range(5):
            await typing(alice_here)
            await typing(alice_there)  # her other socket, on the other instance
        shown = await next_of(bob_there, "typing")
        assert shown == {
            "type": "typing",
            "room_id": room_id,
            "user_id": alice.id,
            "username": alice.username,
        }
        later = await quiet(bob_there, 1.0)
        assert [f for f in later if f["type"] == "typing"] == []  # one per 2 s
        for ws in (alice_here, alice_there):  # never to the typist's own sockets
            assert [f for f in await quiet(ws, 0.2) if f["type"] == "typing"] == []
        await asyncio.sleep(1.2)  # the 2 s are over
        await typing(alice_here)
        assert (await next_of(bob_there, "typing"))["user_id"] == alice.id
        await send_message(bob_there, "a message, so that history has something")
        await next_of(alice_here, "message")
    async with join(first.url, room_id, bob, prefix="") as again:
        history, ready = await until_ready(again)  # history holds messages only
        assert [m["content"] for m in history] == ["a message, so that history has something"]
        assert ready["last_id"] == 1


async def test_events_get_activity_from_the_other_instance_and_the_snapshot_agrees(
    client: httpx.AsyncClient, instances: Instances, alice: Account, bob: Account
) -> None:
    first, second = instances
    room_id = await make_room(client, alice, first)
    async with join(second.url, room_id, bob, prefix="") as bob_there:
        await until_ready(bob_there)
        async with stream(first.url, alice, prefix="") as (alice_events, _snapshot):
            for n in range(3):
                await send_message(bob_there, f"n{n}")
            activity = await next_of(alice_events, "room_activity")
            while activity["unread"] < 3:
                activity = await next_of(alice_events, "room_activity")
            assert activity["room_id"] == room_id
            assert activity["last_message"]["preview"] == "n2"
    async with stream(second.url, alice, prefix="") as (_events, snapshot):
        listed = room_in(snapshot, room_id)
        assert listed["unread"] == 3
        assert listed["last_message"]["id"] == activity["last_id"]


async def test_a_kick_on_one_instance_removes_the_room_from_streams_on_the_other(
    client: httpx.AsyncClient, instances: Instances, alice: Account, bob: Account
) -> None:
    first, second = instances
    api = Api(client, first.url)
    room_id = await api.create(alice, private=True)
    await api.add(alice, room_id, bob)
    async with (
        stream(second.url, bob, prefix="") as (bob_events, snapshot),
        httpx.AsyncClient(base_url=first.url) as http,
    ):
        assert room_in(snapshot, room_id)["role"] == "member"
        kicked = await http.delete(f"/ws/rooms/{room_id}/members/{bob.id}", headers=alice.headers)
        assert kicked.status_code == 204
        removed = await next_of(bob_events, "room_removed")
        assert removed == {"type": "room_removed", "room_id": room_id, "reason": "kick"}


async def test_follows_and_posts_from_the_user_service_reach_connected_followers(
    client: httpx.AsyncClient,
    instances: Instances,
    user_server: ProcessServer,
    alice: Account,
    bob: Account,
) -> None:
    first, second = instances
    carol = await register(client, "carol")
    async with (
        httpx.AsyncClient(base_url=user_server.url) as users,
        stream(first.url, alice, prefix="") as (alice_events, _),
        stream(second.url, bob, prefix="") as (bob_events, _),
        stream(first.url, carol, prefix="") as (carol_events, _),
    ):
        followed = await users.post("/follow", params={"toFollowId": alice.id}, headers=bob.headers)
        assert followed.status_code == 200
        follower = await next_of(alice_events, "follower")
        assert follower == {"type": "follower", "user_id": bob.id, "username": bob.username}
        written = await users.post("/posts", json={"content": "news"}, headers=alice.headers)
        assert written.status_code == 201
        news = await next_of(bob_events, "post")
        assert news == {
            "type": "post",
            "post_id": written.json()["id"],
            "author_id": alice.id,
            "author_username": alice.username,
        }
        assert [f for f in await quiet(carol_events, 0.5) if f["type"] == "post"] == []
