"""Read markers across two `gochat serve ws` processes on one database and one Redis: a
marker moved on either instance is announced on the broker's people channel, where every
instance's `/ws/events` streams of that person pick it up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from shared.people import PersonEvent, people_channel
from tests.support.servers import ProcessServer
from tests.support.users import Account
from tests.ws.chat_client import create_room, join, messages, send_message, until_ready
from tests.ws.test_instances import instance_env, instances  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.redis]


@pytest.fixture
async def people(redis_url: str, instance_env: dict[str, str]) -> AsyncIterator[PubSub]:  # noqa: F811
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(people_channel(instance_env["GOCHAT_REDIS_NAMESPACE"]))
    yield pubsub
    await pubsub.aclose()
    await redis.aclose()


async def events_for(pubsub: PubSub, user_id: int, *, seconds: float) -> list[PersonEvent]:
    """Every person event for `user_id` heard within `seconds`."""
    heard = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        message = await pubsub.get_message(timeout=min(left, 0.1))
        if message is not None:
            event = PersonEvent.decode(message["data"])
            assert event is not None
            if user_id in event.user_ids:
                heard.append(event)
    return heard


async def test_a_marker_moved_on_either_instance_reaches_the_people_channel_coalesced(
    client: httpx.AsyncClient,
    instances: tuple[ProcessServer, ProcessServer],  # noqa: F811
    people: PubSub,
    alice: Account,
    bob: Account,
) -> None:
    first, second = instances
    room_id = await create_room(client, alice)
    async with join(first.url, room_id, bob, prefix="") as bob_here:
        await until_ready(bob_here)
        async with join(second.url, room_id, alice, prefix="") as alice_there:
            await until_ready(alice_there)
            for n in range(30):
                await send_message(alice_there, f"m{n}")
            last = (await messages(alice_there, 30))[-1]["id"]
        # Bob's client reports every message it shows, 30 reports in 1.5 s.
        for up_to in range(last - 29, last + 1):
            await bob_here.send(f'{{"type": "read", "up_to": {up_to}}}')
            await asyncio.sleep(0.05)
        heard = await events_for(people, bob.id, seconds=2.5)
    # (Joining the room first told his streams `room_added`: only the markers count here.)
    heard = [event for event in heard if event.event["type"] == "read"]
    frames = [event.event for event in heard]
    assert 1 <= len(frames) <= 3, frames  # at once, then at most one a second
    assert [frame["read_seq"] for frame in frames] == sorted({f["read_seq"] for f in frames})
    assert frames[-1] == {"type": "read", "room_id": room_id, "read_seq": last, "unread": 0}
    assert all(event.user_ids == (bob.id,) for event in heard)

    # Over REST on the other instance: announced once moved, not when nothing moved.
    async with httpx.AsyncClient(base_url=second.url) as http:
        same = await http.post(f"/ws/rooms/{room_id}/read?upTo={last}", headers=bob.headers)
        assert same.status_code == 200 and same.json()["read_seq"] == last
        assert await events_for(people, bob.id, seconds=0.5) == []
        async with join(second.url, room_id, alice, prefix="") as alice_there:
            await until_ready(alice_there)
            await send_message(alice_there, "one more")
            newest = (await messages(alice_there, 1))[0]["id"]
        moved = await http.post(f"/ws/rooms/{room_id}/read?upTo={newest}", headers=bob.headers)
        assert moved.json() == {"room_id": room_id, "read_seq": newest, "unread": 0}
    (event,) = await events_for(people, bob.id, seconds=2)
    assert event.event == {"type": "read", "room_id": room_id, "read_seq": newest, "unread": 0}
