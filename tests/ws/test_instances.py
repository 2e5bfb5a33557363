"""Two `gochat serve ws` processes on one database and one Redis, as behind a load balancer."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from shared.broker import RedisBroker
from shared.events import AccountEvent, publish_account_event
from tests.support.servers import ProcessServer
from tests.support.users import Account, register
from tests.ws.chat_client import (
    clients_in,
    close_code,
    create_room,
    join,
    messages,
    next_of,
    online_in,
    send_message,
    until_ready,
)
from tests.ws.conversations import Api

pytestmark = [pytest.mark.slow, pytest.mark.redis]

PRESENCE_TTL = 1.5


@pytest.fixture(scope="module")
def instance_env(database_url: str, data_dir: Path, redis_url: str) -> dict[str, str]:
    return {
        "GOCHAT_ENV": "test",
        "GOCHAT_DATABASE_URL": database_url,
        "GOCHAT_DATA_DIR": str(data_dir),
        "GOCHAT_REDIS_URL": redis_url,
        "GOCHAT_REDIS_NAMESPACE": f"gochat-test-{secrets.token_hex(4)}",
        "GOCHAT_LOG_LEVEL": "warning",
        "GOCHAT_WS_RATE_PER_SECOND": "100000",
        "GOCHAT_WS_RATE_BURST": "100000",
        "GOCHAT_PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
        "GOCHAT_PRESENCE_HEARTBEAT_SECONDS": "0.3",
    }


@pytest.fixture(scope="module")
def instances(instance_env: dict[str, str]) -> Iterator[tuple[ProcessServer, ProcessServer]]:
    first = ProcessServer(["serve", "ws"], instance_env).start()
    second = ProcessServer(["serve", "ws"], instance_env).start()
    yield first, second
    first.stop()
    second.stop()


@pytest.fixture
async def redis_broker(redis_url: str) -> AsyncIterator[RedisBroker]:
    redis = Redis.from_url(redis_url)
    yield RedisBroker(redis)
    await redis.aclose()


async def clients_on(server: ProcessServer, room_id: str, account: Account) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await clients_in(http, account, room_id, prefix="")


async def online_on(server: ProcessServer, room_id: str, account: Account) -> int:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return await online_in(http, account, room_id, prefix="")


async def test_each_side_sees_the_others_messages_once_in_one_order(
    client: httpx.AsyncClient, instances: tuple[ProcessServer, ProcessServer]
) -> None:
    accounts = [await register(client, f"i{n}") for n in range(4)]
    room_id = await create_room(client, accounts[0])
    per_client = 25
    total = per_client * len(accounts)

    async def chat(
        account: Account, server: ProcessServer, ready: asyncio.Barrier
    ) -> list[tuple[int, str]]:
        async with join(server.url, room_id, account, prefix="", max_queue=None) as ws:
            await until_ready(ws)
            await ready.wait()
            for n in range(per_client):
                await send_message(ws, f"{account.username}:{n}")
            return [(m["id"], m["content"]) for m in await messages(ws, total, timeout=60)]

    barrier = asyncio.Barrier(len(accounts))
    received = await asyncio.gather(
        *(chat(account, instances[n % 2], barrier) for n, account in enumerate(accounts))
    )
    assert [seq for seq, _ in received[0]] == list(range(1, total + 1))
    assert len({content for _, content in received[0]}) == total
    for other in received[1:]:
        assert other == received[0]


async def test_both_instances_answer_get_clients_the_same(
    client: httpx.AsyncClient,
    instances: tuple[ProcessServer, ProcessServer],
    alice: Account,
    bob: Account,
) -> None:
    first, second = instances
    room_id = await create_room(client, alice)
    async with join(first.url, room_id, alice, prefix="") as alice_here:
        await until_ready(alice_here)
        async with (
            join(second.url, room_id, bob, prefix="") as bob_there,
            join(second.url, room_id, alice, prefix="") as alice_there,
        ):
            await until_ready(bob_there)
            await until_ready(alice_there)
            expected = sorted(
                [
                    {"user_id": alice.id, "username": alice.username},
                    {"user_id": bob.id, "username": bob.username},
                ],
                key=lambda c: c["username"].lower(),
            )
            assert await clients_on(first, room_id, alice) == expected
            assert await clients_on(second, room_id, bob) == expected
            assert await online_on(first, room_id, alice) == 2
            assert await online_on(second, room_id, alice) == 2
            # Bob's join crossed instances; Alice's second tab announced nothing.
            joined = await next_of(alice_here, "join")
            assert joined["user_id"] == alice.id
            assert (await next_of(alice_here, "join"))["user_id"] == bob.id
            await send_message(alice_there, "marker")
            assert (await next_of(alice_here, "join", "message"))["type"] == "message"
        left = await next_of(alice_here, "leave")
        assert left["user_id"] == bob.id  # Alice still has a connection: only Bob left
        assert await clients_on(second, room_id, bob) == [
            {"user_id": alice.id, "username": alice.username}
        ]


async def test_an_account_event_closes_sockets_on_every_instance(
    client: httpx.AsyncClient,
    instances: tuple[ProcessServer, ProcessServer],
    redis_broker: RedisBroker,
    instance_env: dict[str, str],
    alice: Account,
    bob: Account,
) -> None:
    room_id = await create_room(client, alice)
    async with (
        join(instances[0].url, room_id, alice, prefix="") as here,
        join(instances[1].url, room_id, alice, prefix="") as there,
        join(instances[1].url, room_id, bob, prefix="") as other,
    ):
        for ws in (here, there, other):
            await until_ready(ws)
        await publish_account_event(
            redis_broker,
            instance_env["GOCHAT_REDIS_NAMESPACE"],
            AccountEvent(kind="user_deleted", user_id=alice.id),
        )
        assert await close_code(here) == 4401
        assert await close_code(there) == 4401
        await send_message(other, "bob is fine")
        assert (await messages(other, 1))[0]["content"] == "bob is fine"


async def test_a_killed_instances_users_disappear_within_seconds(
    client: httpx.AsyncClient,
    instances: tuple[ProcessServer, ProcessServer],
    instance_env: dict[str, str],
    alice: Account,
    bob: Account,
) -> None:
    survivor = instances[0]
    doomed = ProcessServer(["serve", "ws"], instance_env).start()
    try:
        room_id = await create_room(client, alice)
        async with (
            join(survivor.url, room_id, alice, prefix="") as watcher,
            join(doomed.url, room_id, bob, prefix="") as bob_there,
        ):
            await until_ready(watcher)
            await until_ready(bob_there)
            assert (await next_of(watcher, "join"))["user_id"] == alice.id
            assert (await next_of(watcher, "join"))["user_id"] == bob.id
            assert len(await clients_on(survivor, room_id, alice)) == 2
            doomed.kill()  # no shutdown code runs: its presence entries just stop being renewed
            left = await next_of(watcher, "leave", timeout=PRESENCE_TTL + 5)
            assert left == {
                "type": "leave",
                "room_id": room_id,
                "user_id": bob.id,
                "username": bob.username,
            }
            assert await clients_on(survivor, room_id, alice) == [
                {"user_id": alice.id, "username": alice.username}
            ]
    finally:
        doomed.stop()


@dataclass(frozen=True)
class Removal:
    """A request that ends `person`'s place in `room_id`, made through the first instance,
    and how their sockets there must close."""

    room_id: str
    person: Account
    method: str
    path: str
    by: Account
    code: int
    reason: str


async def assert_closed_in_that_room_only(
    client: httpx.AsyncClient,
    instances: tuple[ProcessServer, ProcessServer],
    removal: Removal,
    *,
    other: Account,
) -> None:
    """The person has a socket in the room on each instance and one in another room,
    `other` one in the room; the removal closes the first two within a second, with its
    code and reason, and nothing else."""
    first, second = instances
    room_id, person = removal.room_id, removal.person
    elsewhere = await create_room(client, other)
    async with (
        join(first.url, room_id, person, prefix="") as here,
        join(second.url, room_id, person, prefix="") as there,
        join(second.url, elsewhere, person, prefix="") as other_room,
        join(second.url, room_id, other, prefix="") as staying,
    ):
        for ws in (here, there, other_room, staying):
            await until_ready(ws)
        async with httpx.AsyncClient(base_url=first.url) as http:
            response = await http.request(removal.method, removal.path, headers=removal.by.headers)
        assert response.status_code == 204, response.text
        for ws in (here, there):
            assert await close_code(ws, timeout=1.0) == removal.code
            assert ws.close_reason == removal.reason
        await send_message(other_room, "still here")
        assert (await messages(other_room, 1))[0]["content"] == "still here"
        await send_message(staying, "the room goes on")
        assert (await messages(staying, 1))[0]["content"] == "the room goes on"


async def test_a_kick_and_a_ban_close_that_users_sockets_in_that_room_on_every_instance(
    client: httpx.AsyncClient,
    instances: tuple[ProcessServer, ProcessServer],
    alice: Account,
    bob: Account,
) -> None:
    """The kick is made through one instance; the other closes its sockets too, with 4403
    and a reason a client can show. Bob's socket in another room stays open."""
    first, second = instances
    api = Api(client, first.url)
    room_id = await api.create(alice, private=True, name="Club")
    await api.add(alice, room_id, bob)
    kick = Removal(
        room_id,
        bob,
        "DELETE",
        f"/ws/rooms/{room_id}/members/{bob.id}",
        by=alice,
        code=4403,
        reason=f"removed from #Club by {alice.username}",
    )
    await assert_closed_in_that_room_only(client, instances, kick, other=alice)
    async with httpx.AsyncClient(base_url=first.url) as http:
        public = await create_room(client, alice)
        async with join(second.url, public, bob, prefix="") as ws:
            await until_ready(ws)
            banned = await http.post(
                f"/ws/rooms/{public}/bans/{bob.id}", json={"reason": "spam"}, headers=alice.headers
            )
            assert banned.status_code == 200
            assert await close_code(ws) == 4403
            assert ws.close_reason.endswith(": spam")
    assert await Api(client, second.url).join_status(bob, public, prefix="") == 403


async def test_leaving_closes_the_leavers_sockets_in_that_room_on_every_instance(
    client: httpx.AsyncClient,
    instances: tuple[ProcessServer, ProcessServer],
    alice: Account,
    bob: Account,
) -> None:
    """Bob leaves a public room by REST on one instance while his tabs are open on both:
    every one of them closes with 4410 (do not reconnect: a reconnect would make him a
    member again) and the reason; his other room and the people staying are untouched."""
    room_id = await create_room(client, alice, name="Lounge")
    leave = Removal(
        room_id,
        bob,
        "POST",
        f"/ws/rooms/{room_id}/leave",
        by=bob,
        code=4410,
        reason="you left #Lounge",
    )
    await assert_closed_in_that_room_only(client, instances, leave, other=alice)
    mine = await client.get("/chat/ws/getRooms", params={"mine": "true"}, headers=bob.headers)
    rooms = {room["id"]: room for room in mine.json()}
    assert room_id not in rooms and len(rooms) == 1  # only the other room is still his


async def test_edits_and_deletes_reach_every_instance_in_order_with_messages(
    client: httpx.AsyncClient,
    instances: tuple[ProcessServer, ProcessServer],
    redis_broker: RedisBroker,
    instance_env: dict[str, str],
    alice: Account,
    bob: Account,
) -> None:
    """Events from both instances (frames and REST) interleaved with messages: every client
    sees one order, ids 1..N without gaps; a resume on the other instance replays them;
    `account_gone` reaches the rooms of both instances."""
    first, second = instances
    room_id = await create_room(client, alice)
    frames = ("message", "edit", "delete")
    async with (
        join(first.url, room_id, alice, prefix="") as a,
        join(second.url, room_id, bob, prefix="") as b,
    ):
        await until_ready(a)
        await until_ready(b)
        for n in range(3):
            await send_message(a, f"a{n}")
            await send_message(b, f"b{n}")
        seen_a = [await next_of(a, *frames) for _ in range(6)]
        mine = [f["id"] for f in seen_a if f["user_id"] == alice.id]
        bobs = [f["id"] for f in seen_a if f["user_id"] == bob.id]
        await a.send(orjson.dumps({"type": "edit", "target": mine[0], "content": "a0!"}).decode())
        await b.send(orjson.dumps({"type": "delete", "target": bobs[0]}).decode())
        await send_message(b, "b3")
        async with httpx.AsyncClient(base_url=second.url) as http:
            patched = await http.patch(
                f"/ws/rooms/{room_id}/messages/{mine[1]}",
                json={"content": "a1!"},
                headers=alice.headers,
            )
            assert patched.status_code == 200, patched.text
        seen_a += [await next_of(a, *frames) for _ in range(4)]
        seen_b = [await next_of(b, *frames) for _ in range(10)]
        assert [f["id"] for f in seen_a] == list(range(1, 11))
        assert seen_b == seen_a
        events = [(f["type"], f["target"]) for f in seen_a if f["type"] != "message"]
        assert sorted(events) == [("delete", bobs[0]), ("edit", mine[0]), ("edit", mine[1])]
        async with join(first.url, room_id, bob, prefix="", after=6) as resumed:
            replay, ready = await until_ready(resumed)
        assert (
            replay
            == [
                {**f, "content": "a0!"} if f["type"] == "edit" and f["target"] == mine[0] else f
                for f in seen_a[6:]
            ]
            and ready["last_id"] == 10
        )
        await publish_account_event(
            redis_broker,
            instance_env["GOCHAT_REDIS_NAMESPACE"],
            AccountEvent(kind="user_deleted", user_id=12345),
        )
        for ws in (a, b):
            gone = await next_of(ws, "account_gone")
            assert gone == {"type": "account_gone", "room_id": room_id, "user_id": 12345}
