"""The hub's ordering rules against a real database and the in-process broker: messages
published out of order, missed, or lost in a reset still reach clients in sequence."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import MemoryBroker
from shared.supervision import OnFailure
from tests.support.users import Account
from tests.ws.memory_sink import MemorySink
from ws_service.connection.protocol import StoredMessage
from ws_service.delivery.hub import HubClosed, RoomHub
from ws_service.delivery.subscriber import Subscriber
from ws_service.messages.store import MessageStore
from ws_service.messages.stream import (
    PresenceChange,
    encode_presence,
    room_channel,
    stored_by_room,
)
from ws_service.presence.base import Presence
from ws_service.presence.in_memory import MemoryPresence

Sessionmaker = async_sessionmaker[AsyncSession]


def hub_for(
    broker: MemoryBroker,
    namespace: str,
    sessionmaker: Sessionmaker,
    *,
    presence: Presence | None = None,
    on_failure: OnFailure | None = None,
    **options: float,
) -> RoomHub:
    return RoomHub(
        broker=broker,
        namespace=namespace,
        sessionmaker=sessionmaker,
        queue_size=int(options.get("queue_size", 100)),
        gap_wait=options.get("gap_wait", 0.05),
        room_check_seconds=options.get("room_check_seconds", 60),
        presence=presence,
        on_failure=on_failure or fail_the_test,
    )


def fail_the_test(name: str, exc: BaseException) -> None:
    raise AssertionError(f"core task {name} died") from exc


def client_of(
    account: Account, room_id: str, session_id: uuid.UUID | None = None
) -> tuple[Subscriber, MemorySink]:
    sink = MemorySink()
    client = Subscriber(
        sink,
        room_id=room_id,
        user_id=account.id,
        username=account.username,
        session_id=session_id or uuid.uuid4(),
        queue_limit=100,
    )
    return client, sink


async def live_member(
    hub: RoomHub,
    account: Account,
    room_id: str,
    *,
    stored_last_seq: int = 0,
    after: int | None = None,
) -> tuple[MemorySink, int]:
    """A client joined and past its history; its sink, and where its history ended."""
    member, sink = client_of(account, room_id)
    through = await hub.join(member, stored_last_seq=stored_last_seq, after=after)
    member.go_live()
    return sink, through


async def publish(broker: MemoryBroker, namespace: str, *stored: StoredMessage) -> None:
    await broker.publish_many(stored_by_room(namespace, stored))


def message(room_id: str, seq: int, account: Account) -> StoredMessage:
    return StoredMessage(
        room_id=room_id,
        seq=seq,
        user_id=account.id,
        username=account.username,
        content=f"m{seq}",
        client_id=None,
        created_at=datetime.now(UTC),
    )


async def eventually(check: Callable[[], bool], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


def ids(sink: MemorySink) -> list[int]:
    return [frame["id"] for frame in map(orjson.loads, sink.written) if frame["type"] == "message"]


async def store_quietly(
    sessionmaker: Sessionmaker, room_id: str, account: Account, count: int
) -> None:
    """Messages stored by "another instance" whose broadcasts this hub never hears."""
    async with MessageStore(
        sessionmaker, MemoryBroker(), "elsewhere", queue_size=100, batch_max=100
    ) as store:
        for n in range(count):
            await store.append(
                room_id=room_id,
                user_id=account.id,
                username=account.username,
                content=f"q{n}",
                client_id=None,
            )


async def test_messages_published_out_of_order_are_delivered_in_order(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    async with hub_for(broker, namespace, sessionmaker, gap_wait=5) as hub:
        sink, through = await live_member(hub, alice, room_id)
        assert through == 0
        for seq in (3, 1, 1, 2, 3, 4):
            await publish(broker, namespace, message(room_id, seq, alice))
        await eventually(lambda: len(ids(sink)) == 4)
        await asyncio.sleep(0.05)
        assert ids(sink) == [1, 2, 3, 4]


async def test_a_batch_reaches_each_member_in_one_write(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    async with hub_for(broker, namespace, sessionmaker) as hub:
        sink, _ = await live_member(hub, alice, room_id)
        await publish(broker, namespace, *(message(room_id, seq, alice) for seq in (1, 2, 3)))
        await eventually(lambda: ids(sink) == [1, 2, 3])
        assert sink.writes == 1


async def test_a_gap_that_does_not_close_is_filled_from_the_database(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    async with hub_for(broker, namespace, sessionmaker) as hub:
        sink, _ = await live_member(hub, alice, room_id)
        await store_quietly(sessionmaker, room_id, alice, 3)  # 1..3, never published here
        await publish(broker, namespace, message(room_id, 4, alice))
        await eventually(lambda: ids(sink) == [1, 2, 3, 4])
        contents = [orjson.loads(frame)["content"] for frame in sink.written]
        assert contents == ["q0", "q1", "q2", "m4"]


async def test_a_client_joining_while_the_database_is_ahead_gets_everything_once(
    alice: Account,
    room_id: str,
    broker: MemoryBroker,
    bob: Account,
    sessionmaker: Sessionmaker,
    namespace: str,
) -> None:
    async with hub_for(broker, namespace, sessionmaker) as hub:
        first_sink, _ = await live_member(hub, alice, room_id)
        await asyncio.sleep(0.1)  # the room's first join reads what came before it: nothing
        await store_quietly(sessionmaker, room_id, alice, 2)
        # The room is followed here up to 0: the newcomer's history ends there too, and
        # 1..2 come live to both, once the hub has read them.
        second_sink, through = await live_member(hub, bob, room_id, stored_last_seq=2)
        assert through == 0
        await eventually(lambda: ids(first_sink) == [1, 2] and ids(second_sink) == [1, 2])


async def test_a_message_published_before_the_rooms_channel_was_subscribed_is_not_missed(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    """Nobody here followed the room, so its channel was not subscribed: a message stored
    and published after the joiner read `last_seq` (0) but before the subscription never
    came by. The room's first join reads it from the database."""
    async with hub_for(broker, namespace, sessionmaker) as hub:
        await store_quietly(sessionmaker, room_id, alice, 1)
        sink, through = await live_member(hub, alice, room_id, stored_last_seq=0)
        assert through == 0
        await eventually(lambda: ids(sink) == [1])
        await publish(broker, namespace, message(room_id, 2, alice))
        await eventually(lambda: ids(sink) == [1, 2])


async def test_a_reset_of_the_stream_is_caught_up_from_the_database(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    async with hub_for(broker, namespace, sessionmaker, queue_size=4, gap_wait=5) as hub:
        sink, _ = await live_member(hub, alice, room_id)
        await store_quietly(sessionmaker, room_id, alice, 2)
        noise = encode_presence(PresenceChange("join", "another-room", alice.id, alice.username))
        for _ in range(10):  # more than the subscription holds, at once: it resets
            await broker.publish(room_channel(namespace, room_id), noise)
        await eventually(lambda: ids(sink) == [1, 2])


async def test_presence_changes_reach_the_room(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    async with hub_for(broker, namespace, sessionmaker) as hub:
        sink, _ = await live_member(hub, alice, room_id)
        change = PresenceChange("leave", room_id, 42, "someone")
        await broker.publish(room_channel(namespace, room_id), encode_presence(change))
        await eventually(lambda: len(sink.written) == 1)
        assert orjson.loads(sink.written[0]) == {
            "type": "leave",
            "room_id": room_id,
            "user_id": 42,
            "username": "someone",
        }


async def test_stopping_closes_every_client_with_1012_and_refuses_newcomers(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    hub = hub_for(broker, namespace, sessionmaker)
    async with hub:
        member, sink = client_of(alice, room_id)
        await hub.join(member, stored_last_seq=0)
    assert sink.closed_with == 1012
    late, _ = client_of(alice, room_id)
    with pytest.raises(HubClosed):
        await hub.join(late, stored_last_seq=0)


async def test_a_resume_on_a_hub_that_is_behind_repeats_nothing(
    alice: Account,
    bob: Account,
    room_id: str,
    broker: MemoryBroker,
    sessionmaker: Sessionmaker,
    namespace: str,
) -> None:
    """Defect 3: Bob saw 1..3 on another instance; this hub has seen none of them."""
    async with hub_for(broker, namespace, sessionmaker) as hub:
        first_sink, _ = await live_member(hub, alice, room_id)
        await store_quietly(sessionmaker, room_id, alice, 3)
        resumed_sink, through = await live_member(hub, bob, room_id, stored_last_seq=3, after=3)
        assert through == 3  # ready.last_id: nothing to send as history
        await eventually(lambda: ids(first_sink) == [1, 2, 3])
        await publish(broker, namespace, message(room_id, 4, alice))
        await eventually(lambda: ids(first_sink) == [1, 2, 3, 4])
        assert ids(resumed_sink) == [4]


async def test_a_message_stored_but_never_broadcast_reaches_a_quiet_room(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    """Defect 5: its publish gave up, and nobody posts in the room again."""
    async with hub_for(broker, namespace, sessionmaker, room_check_seconds=0.1) as hub:
        sink, _ = await live_member(hub, alice, room_id)
        await store_quietly(sessionmaker, room_id, alice, 2)
        await eventually(lambda: ids(sink) == [1, 2])


async def test_a_join_lost_in_a_stream_reset_reaches_the_room(
    alice: Account,
    bob: Account,
    room_id: str,
    broker: MemoryBroker,
    sessionmaker: Sessionmaker,
    namespace: str,
) -> None:
    """Defect 8: presence is read again after a reset, and what members missed is sent."""
    channel = room_channel(namespace, room_id)

    async def announce(change: PresenceChange) -> None:
        await broker.publish(room_channel(namespace, change.room_id), encode_presence(change))

    presence = MemoryPresence(announce)
    async with hub_for(broker, namespace, sessionmaker, queue_size=4, presence=presence) as hub:
        sink, _ = await live_member(hub, alice, room_id)
        noise = encode_presence(PresenceChange("join", "another-room", alice.id, alice.username))
        for _ in range(10):  # more than the subscription holds, at once: it resets
            await broker.publish(channel, noise)
        await presence.enter(room_id, bob.id, bob.username)  # its join is dropped too
        await eventually(lambda: len(sink.written) == 1)
        assert orjson.loads(sink.written[0]) == {
            "type": "join",
            "room_id": room_id,
            "user_id": bob.id,
            "username": bob.username,
        }


async def test_a_core_task_that_dies_is_reported(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    died: list[str] = []
    hub = hub_for(broker, namespace, sessionmaker, on_failure=lambda name, exc: died.append(name))
    async with hub:
        reader = next(t for t in asyncio.all_tasks() if t.get_name() == "ws-room-feed")
        reader.cancel()
        await eventually(lambda: died == ["ws-room-feed"])
    assert died == ["ws-room-feed"]  # stopping is not a failure


async def test_joins_waiting_when_the_hub_stops_end_with_hub_closed(
    alice: Account, room_id: str, broker: MemoryBroker, sessionmaker: Sessionmaker, namespace: str
) -> None:
    hub = hub_for(broker, namespace, sessionmaker, queue_size=1)
    async with hub:
        joins = [
            asyncio.create_task(hub.join(client_of(alice, room_id)[0], stored_last_seq=0))
            for _ in range(20)
        ]
        await asyncio.sleep(0)
    async with asyncio.timeout(5):  # bounded: none of them hangs
        outcomes = await asyncio.gather(*joins, return_exceptions=True)
    assert all(isinstance(o, int | HubClosed) for o in outcomes)
    assert any(isinstance(o, HubClosed) for o in outcomes)
