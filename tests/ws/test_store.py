"""The message store against the real database: numbering, batching, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import MemoryBroker
from shared.database import create_engine, create_sessionmaker
from shared.settings import Settings
from tests.support.users import Account
from tests.ws.chat_client import create_room
from ws_service.messages.store import Appended, MessageStore, StoreUnavailable

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[Sessionmaker]:
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


def store_on(sessionmaker: Sessionmaker, broker: MemoryBroker | None = None) -> MessageStore:
    return MessageStore(
        sessionmaker, broker or MemoryBroker(), "chat", queue_size=1000, batch_max=500
    )


async def send(
    store: MessageStore, room_id: str, account: Account, content: str, client_id: str | None = None
) -> Appended:
    return await store.append(
        room_id=room_id,
        user_id=account.id,
        username=account.username,
        content=content,
        client_id=client_id,
    )


async def test_concurrent_messages_are_numbered_gaplessly_in_few_commits(
    client: httpx.AsyncClient, alice: Account, bob: Account, sessionmaker: Sessionmaker
) -> None:
    rooms = [await create_room(client, alice) for _ in range(3)]
    broker = MemoryBroker()
    async with store_on(sessionmaker, broker) as store, broker.subscribe("chat") as published:
        results = await asyncio.gather(
            *(send(store, rooms[n % 3], (alice, bob)[n % 2], f"m{n}") for n in range(90))
        )
        assert store.commits < 90
    for index, room_id in enumerate(rooms):
        mine = [r.message for r in results if r.message.room_id == room_id]
        assert [m.seq for m in mine] == list(range(1, 31))
        assert [m.content for m in mine] == [f"m{n}" for n in range(index, 90, 3)]
    seen = []
    while (event := published.get_nowait()) is not None:
        seen.extend((m["room_id"], m["id"]) for m in orjson.loads(event.data)["messages"])
    assert sorted(seen) == sorted((r.message.room_id, r.message.seq) for r in results)


async def test_a_repeated_client_id_in_one_batch_is_stored_once(
    client: httpx.AsyncClient, alice: Account, bob: Account, sessionmaker: Sessionmaker
) -> None:
    room_id = await create_room(client, alice)
    async with store_on(sessionmaker) as store:
        first, again, other = await asyncio.gather(
            send(store, room_id, alice, "hello", "k"),
            send(store, room_id, alice, "hello (retry)", "k"),
            send(store, room_id, bob, "same key, other user", "k"),
        )
        later = await send(store, room_id, alice, "hello (late retry)", "k")
    assert not first.duplicate and again.duplicate and later.duplicate
    assert again.message == first.message == later.message
    assert not other.duplicate and other.message.seq == 2


async def test_two_instances_racing_on_one_client_id_store_it_once(
    client: httpx.AsyncClient, alice: Account, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    room_id = await create_room(client, alice)
    other_engine = create_engine(settings)
    try:
        async with (
            store_on(sessionmaker) as here,
            store_on(create_sessionmaker(other_engine)) as there,
        ):
            for n in range(10):
                a, b = await asyncio.gather(
                    send(here, room_id, alice, f"m{n}", f"key-{n}"),
                    send(there, room_id, alice, f"m{n}", f"key-{n}"),
                )
                assert a.message == b.message and [a.duplicate, b.duplicate].count(True) == 1
            last = await send(here, room_id, alice, "after", None)
    finally:
        await other_engine.dispose()
    assert last.message.seq == 11


async def test_one_bad_message_fails_alone(
    client: httpx.AsyncClient, alice: Account, sessionmaker: Sessionmaker
) -> None:
    room_id = await create_room(client, alice)
    ghost = Account(id=2**40, username="ghost", email="ghost@example.com", token="")
    async with store_on(sessionmaker) as store:
        good, bad, unknown_room, also_good = await asyncio.gather(
            send(store, room_id, alice, "one"),
            send(store, room_id, ghost, "from nobody"),
            send(store, "no-such-room", alice, "lost"),
            send(store, room_id, alice, "two"),
            return_exceptions=True,
        )
    assert isinstance(bad, StoreUnavailable) and isinstance(unknown_room, StoreUnavailable)
    assert isinstance(good, Appended) and isinstance(also_good, Appended)
    assert [good.message.seq, also_good.message.seq] == [1, 2]


async def test_a_stopped_store_refuses_messages(
    client: httpx.AsyncClient, alice: Account, sessionmaker: Sessionmaker
) -> None:
    room_id = await create_room(client, alice)
    store = store_on(sessionmaker)
    async with store:
        pass
    with pytest.raises(StoreUnavailable):
        await send(store, room_id, alice, "too late")
