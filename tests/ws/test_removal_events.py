"""A kick, a ban or a leave is announced on the broker's control channel after the commit:
the hook every chat instance acts on to close that person's sockets in the room."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from shared.events import AccountEvent, RoomRemovalEvent, control_channel
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.ws.conversations import Api
from ws_service.app import create_app


@pytest.fixture
def chat_on_redis(
    settings: Settings, data_dir: Path, redis_url: str, dev_server: ThreadServer
) -> Iterator[tuple[ThreadServer, Settings]]:
    on_redis = make_settings(settings.database_url, data_dir, redis_url=redis_url)
    server = ThreadServer(create_app(on_redis), on_redis).start()
    yield server, on_redis
    server.stop()


@pytest.fixture
async def control(
    redis_url: str, chat_on_redis: tuple[ThreadServer, Settings]
) -> AsyncIterator[PubSub]:
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(control_channel(chat_on_redis[1].redis_namespace))
    yield pubsub
    await pubsub.aclose()
    await redis.aclose()


async def next_event(pubsub: PubSub) -> RoomRemovalEvent:
    for _ in range(50):  # up to ~5 s
        message = await pubsub.get_message(timeout=0.1)
        if message is not None:
            assert AccountEvent.decode(message["data"]) is None  # not an account event
            event = RoomRemovalEvent.decode(message["data"])
            assert event is not None
            return event
    raise AssertionError("no event was published")


async def test_kick_and_ban_are_announced_with_a_reason_to_show(
    client: httpx.AsyncClient,
    chat_on_redis: tuple[ThreadServer, Settings],
    control: PubSub,
    alice: Account,
    bob: Account,
) -> None:
    server, _ = chat_on_redis
    async with httpx.AsyncClient(base_url=server.url) as alone:
        api = Api(client, server.url)
        room_id = await api.create(alice, private=True, name="Club")
        await api.add(alice, room_id, bob)
        kicked = await alone.delete(f"/ws/rooms/{room_id}/members/{bob.id}", headers=alice.headers)
        assert kicked.status_code == 204
        assert await next_event(control) == RoomRemovalEvent(
            "room_kick", room_id, bob.id, alice.id, f"removed from #Club by {alice.username}"
        )
        # Published after the commit: whoever reacts sees bob gone.
        assert (await api.room(bob, room_id)).status_code == 404
        carol = await register(client, "carol")
        await api.add(alice, room_id, carol)
        banned = await alone.post(
            f"/ws/rooms/{room_id}/bans/{carol.id}", json={"reason": "spam"}, headers=alice.headers
        )
        assert banned.status_code == 200
        assert await next_event(control) == RoomRemovalEvent(
            "room_ban", room_id, carol.id, alice.id, f"banned from #Club by {alice.username}: spam"
        )
        dave = await register(client, "dave")
        await api.add(alice, room_id, dave)
        left = await alone.post(f"/ws/rooms/{room_id}/leave", headers=dave.headers)
        assert left.status_code == 204
        assert await next_event(control) == RoomRemovalEvent(
            "room_leave", room_id, dave.id, dave.id, "you left #Club"
        )
        assert (await api.room(dave, room_id)).status_code == 404


def test_a_malformed_removal_event_decodes_to_none() -> None:
    for data in (b"{", b"[]", b'{"kind": "room_kick"}', b'{"kind": "other"}'):
        assert RoomRemovalEvent.decode(data) is None
    for event in (
        RoomRemovalEvent("room_ban", "r", 1, 2, "banned from #r by x"),
        RoomRemovalEvent("room_leave", "r", 1, 1, "you left #r"),
    ):
        assert RoomRemovalEvent.decode(event.encode()) == event
