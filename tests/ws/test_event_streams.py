"""The per-instance events dispatcher without sockets: memory sinks, the in-process broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import MemoryBroker
from shared.people import PersonEvent, people_channel
from tests.ws.memory_sink import MemorySink
from ws_service.connection.protocol import StoredMessage
from ws_service.delivery.subscriber import Outlet
from ws_service.delivery.throttle import Throttle
from ws_service.events.streams import FLUSH_SECONDS, EventStreams, RoomSeen, Snapshot
from ws_service.messages.stream import encode_stored, room_channel


def test_throttle_lets_one_through_per_interval_and_forgets_old_keys() -> None:
    throttle: Throttle[str] = Throttle(2.0)
    assert throttle.allow("a", 0.0)
    assert not throttle.allow("a", 1.9)
    assert throttle.allow("b", 1.9)
    assert throttle.allow("a", 2.0)
    assert throttle.allow("c", 10.0)
    assert len(throttle) == 1  # a and b expired


@pytest.fixture
async def streams(
    broker: MemoryBroker, namespace: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[EventStreams]:
    async with EventStreams(
        broker=broker,
        namespace=namespace,
        sessionmaker=sessionmaker,
        presence=None,
        queue_size=1000,
        on_failure=lambda name, exc: None,
    ) as running:
        yield running


def outlet(user_id: int) -> tuple[Outlet, MemorySink]:
    sink = MemorySink()
    out = Outlet(sink, user_id=user_id, session_id=uuid.uuid4(), queue_limit=100)
    out.go_live()
    return out, sink


def snapshot(*rooms: RoomSeen) -> Snapshot:
    return Snapshot(frame=b'{"type":"snapshot"}', rooms=list(rooms))


def seen(room_id: str, unread: int = 0) -> RoomSeen:
    return RoomSeen(room_id=room_id, unread=unread, last_id=0, last_message=None, online=1)


def message(room_id: str, seq: int, user_id: int) -> StoredMessage:
    return StoredMessage(room_id, seq, user_id, f"u{user_id}", f"m{seq}", None, datetime.now(UTC))


def frames(sink: MemorySink, kind: str) -> list[dict[str, Any]]:
    return [f for f in (orjson.loads(p) for p in sink.written) if f["type"] == kind]


async def settle() -> None:
    await asyncio.sleep(FLUSH_SECONDS * 1.5)


async def test_a_burst_is_one_frame_per_flush_with_per_person_unread(
    streams: EventStreams, broker: MemoryBroker, namespace: str
) -> None:
    alice, alice_sink = outlet(1)
    bob, bob_sink = outlet(2)
    streams.connect(alice, snapshot(seen("r", unread=5)))
    streams.connect(bob, snapshot(seen("r")))
    channel = room_channel(namespace, "r")
    for seq in range(1, 101):  # 100 messages, one commit each, alice wrote every 4th
        await broker.publish(channel, encode_stored([message("r", seq, 1 if seq % 4 == 0 else 3)]))
    await settle()
    await settle()
    alice_frames = frames(alice_sink, "room_activity")
    bob_frames = frames(bob_sink, "room_activity")
    assert 1 <= len(alice_frames) <= 3
    assert alice_frames[-1]["unread"] == 5 + 75
    assert bob_frames[-1]["unread"] == 100
    assert bob_frames[-1]["last_id"] == 100
    assert bob_frames[-1]["last_message"]["preview"] == "m100"
    assert streams.uncoalesced == 200
    assert streams.activity_frames == len(alice_frames) + len(bob_frames)


async def test_person_events_go_to_every_tab_and_read_resets_the_count(
    streams: EventStreams, broker: MemoryBroker, namespace: str
) -> None:
    tab_one, one_sink = outlet(1)
    tab_two, two_sink = outlet(1)
    streams.connect(tab_one, snapshot(seen("r", unread=7)))
    streams.connect(tab_two, snapshot(seen("r", unread=7)))
    read = {"type": "read", "room_id": "r", "read_seq": 9, "unread": 0}
    await broker.publish(people_channel(namespace), PersonEvent((1, 99), read).encode())
    await settle()
    assert frames(one_sink, "read") == frames(two_sink, "read") == [read]
    await broker.publish(room_channel(namespace, "r"), encode_stored([message("r", 10, 3)]))
    await settle()
    assert frames(one_sink, "room_activity")[-1]["unread"] == 1
    streams.disconnect(tab_one)
    streams.disconnect(tab_two)
    assert streams.people == 0


async def test_removed_rooms_are_no_longer_watched(
    streams: EventStreams, broker: MemoryBroker, namespace: str
) -> None:
    alice, sink = outlet(1)
    streams.connect(alice, snapshot(seen("r")))
    streams.removed(room_id="r", user_id=1, reason="ban")
    assert frames(sink, "room_removed") == [
        {"type": "room_removed", "room_id": "r", "reason": "ban"}
    ]
    await broker.publish(room_channel(namespace, "r"), encode_stored([message("r", 1, 3)]))
    await settle()
    assert frames(sink, "room_activity") == []


async def test_a_slow_stream_is_cut_off_with_1013(
    streams: EventStreams, broker: MemoryBroker, namespace: str
) -> None:
    slow, sink = outlet(1)
    sink.open.clear()  # its connection takes nothing more
    streams.connect(slow, snapshot(seen("r")))
    event = {"type": "notification", "unread": 1}
    for _ in range(150):
        await broker.publish(people_channel(namespace), PersonEvent((1,), event).encode())
    await settle()
    assert slow.close_code == 1013
