"""Scale-out that scales: an instance receives only the broker messages of rooms it has a
local interest in (two real `gochat serve ws` processes on one database and one Redis), and
the room channels of a Redis broker are subscribed again after a Redis restart."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.broker import BrokerEvent, ChannelSet, RedisBroker
from shared.runtime import connect_redis
from tests.support.private_servers import PrivateRedis
from tests.support.servers import ProcessServer
from tests.support.users import register
from tests.ws.chat_client import create_room, join, messages, next_of, send_message, until_ready
from tests.ws.test_events import stream

pytestmark = [pytest.mark.slow, pytest.mark.redis]

Instances = tuple[ProcessServer, ProcessServer]


@pytest.fixture(scope="module")
def own_instances(database_url: str, data_dir: Path, redis_url: str) -> Iterator[Instances]:
    """Two instances of their own (a fresh namespace): their broker counters start at 0."""
    env = {
        "GOCHAT_ENV": "test",
        "GOCHAT_DATABASE_URL": database_url,
        "GOCHAT_DATA_DIR": str(data_dir),
        "GOCHAT_REDIS_URL": redis_url,
        "GOCHAT_REDIS_NAMESPACE": f"gochat-scale-{secrets.token_hex(4)}",
        "GOCHAT_LOG_LEVEL": "warning",
        "GOCHAT_WS_RATE_PER_SECOND": "100000",
        "GOCHAT_WS_RATE_BURST": "100000",
    }
    first = ProcessServer(["serve", "ws"], env).start()
    second = ProcessServer(["serve", "ws"], env).start()
    yield first, second
    first.stop()
    second.stop()


async def metric(server: ProcessServer, name: str) -> float:
    async with httpx.AsyncClient(base_url=server.url) as http:
        text = (await http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def broker_events(server: ProcessServer) -> float:
    return await metric(server, "gochat_broker_events_total")


async def eventually_equal(read: object, expected: float, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while (value := await read()) != expected:  # type: ignore[operator]
            await asyncio.sleep(0.05)
    assert value == expected


async def test_an_instance_receives_nothing_of_the_rooms_it_does_not_serve(
    client: httpx.AsyncClient, own_instances: Instances
) -> None:
    first, second = own_instances
    a, b, c, d = [await register(client, f"so{n}") for n in range(4)]
    room_here = await create_room(client, a)
    room_there = await create_room(client, c)
    async with (
        join(first.url, room_here, a, prefix="") as a_ws,
        join(first.url, room_here, b, prefix="") as b_ws,
        join(second.url, room_there, c, prefix="") as c_ws,
        join(second.url, room_there, d, prefix="") as d_ws,
    ):
        for ws in (a_ws, b_ws, c_ws, d_ws):
            await until_ready(ws)
        await asyncio.sleep(0.5)  # presence announcements settle
        first_before, second_before = await broker_events(first), await broker_events(second)
        for n in range(20):
            await send_message(c_ws, f"there {n}")
        got = await messages(d_ws, 20)
        assert [m["id"] for m in got] == list(range(1, 21))
        await asyncio.sleep(0.3)
        assert await broker_events(first) == first_before  # none of the other room's
        assert await broker_events(second) >= second_before + 1
        for n in range(5):
            await send_message(a_ws, f"here {n}")
        assert [m["id"] for m in await messages(b_ws, 5)] == [1, 2, 3, 4, 5]
        assert await metric(first, "gochat_broker_events_unwanted_total") == 0


async def test_the_last_member_leaving_drops_the_subscription_and_a_late_join_misses_nothing(
    client: httpx.AsyncClient, own_instances: Instances
) -> None:
    first, second = own_instances
    alice = await register(client, "leaver")
    bob = await register(client, "stayer")
    room_id = await create_room(client, alice)
    subscribed_before = await metric(first, "gochat_ws_rooms_subscribed")
    async with join(second.url, room_id, bob, prefix="") as bob_ws:
        await until_ready(bob_ws)
        async with join(first.url, room_id, alice, prefix="") as alice_ws:
            await until_ready(alice_ws)
            assert await metric(first, "gochat_ws_rooms_subscribed") == subscribed_before + 1
            await send_message(bob_ws, "while alice is here")
            assert (await next_of(alice_ws, "message"))["id"] == 1
        # Her last socket here is gone: the room's channel is dropped on this instance.
        await eventually_equal(
            lambda: metric(first, "gochat_ws_rooms_subscribed"), subscribed_before
        )
        events_before = await broker_events(first)
        for n in range(5):
            await send_message(bob_ws, f"while alice is away {n}")
        assert len(await messages(bob_ws, 6)) == 6  # 1 (before), 2..6
        await asyncio.sleep(0.3)
        assert await broker_events(first) == events_before

        async def chat_on() -> None:
            for n in range(30):
                await send_message(bob_ws, f"during her join {n}")

        # A late join while messages keep coming: history then live, each id once, in order.
        async with join(first.url, room_id, alice, prefix="") as alice_again:
            sending = asyncio.create_task(chat_on())
            history, ready = await until_ready(alice_again)
            await sending
            seen = [m["id"] for m in history]
            assert seen[:6] == [1, 2, 3, 4, 5, 6]
            live = (
                await messages(alice_again, 36 - ready["last_id"]) if ready["last_id"] < 36 else []
            )
            seen += [m["id"] for m in live]
            assert seen == list(range(1, 37))


async def test_an_events_stream_holds_its_rooms_channels_while_it_is_connected(
    client: httpx.AsyncClient, own_instances: Instances
) -> None:
    """Alice has no room socket on the first instance, only her live stream: the room's
    activity on the second instance reaches it, and her leaving drops the channel."""
    first, second = own_instances
    alice = await register(client, "watcher")
    bob = await register(client, "talker")
    room_id = await create_room(client, alice)
    subscribed = await metric(first, "gochat_ws_rooms_subscribed")
    async with stream(first.url, alice, prefix="") as (events, _snapshot):
        await eventually_equal(lambda: metric(first, "gochat_ws_rooms_subscribed"), subscribed + 1)
        async with join(second.url, room_id, bob, prefix="") as bob_ws:
            await until_ready(bob_ws)
            await send_message(bob_ws, "for the stream")
            activity = await next_of(events, "room_activity")
            assert activity["room_id"] == room_id
            assert activity["last_message"]["preview"] == "for the stream"
    await eventually_equal(lambda: metric(first, "gochat_ws_rooms_subscribed"), subscribed)


# -- the Redis broker's channel set across a Redis restart ----------------------------------


async def next_event(channels: ChannelSet, timeout: float = 10) -> BrokerEvent:
    async with asyncio.timeout(timeout):
        return await anext(channels)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")
async def test_a_redis_restart_resubscribes_the_held_channels_and_resets(tmp_path: Path) -> None:
    server = PrivateRedis(tmp_path)
    server.start()
    client = connect_redis(server.url)  # as the service's: it retries across a restart
    publisher = connect_redis(server.url)
    try:
        async with RedisBroker(client).channel_set(maxsize=100) as channels:
            channels.hold("room:a")
            channels.hold("room:b")
            # Held before the connection was made: `live` could not wait, so a RESET says
            # so, once both are subscribed.
            assert (await next_event(channels)).reset
            await channels.live("room:a")
            await channels.live("room:b")
            await publisher.publish("room:a", b"1")
            assert (await next_event(channels)).data == b"1"
            channels.release("room:b")
            channels.hold("room:a")  # twice: one release keeps it
            channels.release("room:a")
            await publisher.publish("room:a", b"2")
            assert (await next_event(channels)).data == b"2"
            # Unsubscribed from b: its message never comes; a's does.
            await asyncio.sleep(0.2)
            await publisher.publish("room:b", b"not for us")
            await publisher.publish("room:a", b"3")
            assert (await next_event(channels)).data == b"3"

            server.kill()
            await asyncio.sleep(0.5)
            server.start()  # same port, empty: every subscription is gone
            reset = await next_event(channels, timeout=20)
            assert reset.reset  # delivered once a is subscribed again
            await channels.live("room:a")
            await publisher.publish("room:a", b"4")
            assert (await next_event(channels)).data == b"4"
            channels.hold("room:c")  # a new interest after the restart
            await channels.live("room:c")
            await publisher.publish("room:c", b"5")
            assert (await next_event(channels)).data == b"5"
    finally:
        await client.aclose()
        await publisher.aclose()
        server.kill()
