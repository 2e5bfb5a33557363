"""The message store against the real database: numbering, batching, idempotency, and what
a failure may cost (only the message at fault; never a committed message's answer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Literal

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from shared.broker import Broker, MemoryBroker, RedisBroker, Subscription
from shared.database import create_engine, create_sessionmaker, unit_of_work
from shared.models import Message, Room
from shared.runtime import Runtime
from shared.settings import Settings
from shared.supervision import Supervisor
from tests.conftest import make_settings
from tests.support.proxy import CuttableProxy, cuttable
from tests.support.users import Account
from tests.ws.chat_client import create_room
from ws_service.chat import open_chat
from ws_service.connection.protocol import PostedEvent
from ws_service.messages import store as store_module
from ws_service.messages.store import Appended, EventRefused, MessageStore, StoreUnavailable
from ws_service.messages.stream import room_channel
from ws_service.metrics import ChatMetrics

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[Sessionmaker]:
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


def store_on(sessionmaker: Sessionmaker, broker: Broker | None = None) -> MessageStore:
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
    async with (
        store_on(sessionmaker, broker) as store,
        broker.subscribe(*(room_channel("chat", room) for room in rooms)) as published,
    ):
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


async def test_a_batch_costs_the_same_statements_in_one_room_as_in_forty(
    client: httpx.AsyncClient, alice: Account, settings: Settings, sessionmaker: Sessionmaker
) -> None:
    """Round trips, not the database's work, bound a group commit across many rooms: the
    rooms are locked, renumbered and written back set-wise, never a statement per room. On
    PostgreSQL a batch of new messages is one statement, the same at every batch size (one
    prepared statement), sent on its own: the driver sees no BEGIN or COMMIT either."""
    rooms = [await create_room(client, alice) for _ in range(40)]
    warm_up = await create_room(client, alice)  # asyncpg looks up the array types once
    engine = create_engine(settings)
    statements: list[str] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _conn, _cursor, statement, *_: statements.append(statement),
    )
    sent: list[str] = []  # what asyncpg sends but executions of prepared statements

    def log_queries(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query))

    if engine.dialect.name == "postgresql":
        event.listen(engine.sync_engine, "connect", log_queries)
    counts = []
    try:
        async with store_on(create_sessionmaker(engine)) as store:
            await send(store, warm_up, alice, "hello")
            for targets in ([rooms[0]] * 40, rooms):
                statements.clear()
                sent.clear()
                commits = store.commits
                # Queued without yielding, so the writer takes them as one batch.
                futures = [
                    await store.submit(
                        room_id=room_id,
                        user_id=alice.id,
                        username=alice.username,
                        content="hi",
                        client_id=None,
                    )
                    for room_id in targets
                ]
                await asyncio.gather(*futures)
                assert store.commits == commits + 1
                counts.append([each for each in statements if not each.startswith("BEGIN")])
                if engine.dialect.name == "postgresql":
                    # Prepared statements' executions are not logged; BEGIN and COMMIT are.
                    assert not [query for query in sent if query.split()[0] != "WITH"], sent
    finally:
        await engine.dispose()
    kinds = [[statement.split()[0] for statement in batch] for batch in counts]
    if engine.dialect.name == "postgresql":
        assert kinds[0] == kinds[1] == ["WITH"], kinds
        assert counts[0] == counts[1]
    else:
        assert kinds[0] == kinds[1] == ["SELECT", "UPDATE", "INSERT"], kinds
    async with unit_of_work(sessionmaker) as db:
        numbered = (
            await db.execute(
                select(Message.room_id, Message.seq, Message.number).where(
                    Message.room_id.in_(rooms)
                )
            )
        ).all()
        counters = (
            await db.execute(
                select(Room.id, Room.last_seq, Room.message_count, Room.last_message_seq).where(
                    Room.id.in_(rooms)
                )
            )
        ).all()
    first = rooms[0]
    assert sorted((seq, number) for room_id, seq, number in numbered if room_id == first) == [
        (n, n) for n in range(1, 42)
    ]
    assert sorted(row for row in numbered if row[0] != first) == sorted(
        (room_id, 1, 1) for room_id in rooms[1:]
    )
    assert sorted(counters) == sorted(
        (room_id, 41, 41, 41) if room_id == first else (room_id, 1, 1, 1) for room_id in rooms
    )


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


async def test_writers_of_three_instances_in_the_same_rooms_number_gaplessly(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    sessionmaker: Sessionmaker,
    settings: Settings,
) -> None:
    """Each instance's batches lock the rooms they touch (in id order) while other
    instances' batches on the same rooms wait: every room's rows are 1..n with no gap or
    repeat, their `number`s too, the counters end at n, and each answer is its row."""
    rooms = [await create_room(client, alice) for _ in range(4)]
    engines = [create_engine(settings) for _ in range(2)]
    try:
        async with (
            store_on(sessionmaker) as first,
            store_on(create_sessionmaker(engines[0])) as second,
            store_on(create_sessionmaker(engines[1])) as third,
        ):
            stores = (first, second, third)
            answers = await asyncio.gather(
                *(
                    send(stores[n % 3], rooms[(n // 3) % 4], (alice, bob)[n % 2], f"m{n}")
                    for n in range(240)
                )
            )
    finally:
        for engine in engines:
            await engine.dispose()
    async with unit_of_work(sessionmaker) as db:
        rows = (
            await db.execute(
                select(Message.room_id, Message.seq, Message.number, Message.content).where(
                    Message.room_id.in_(rooms)
                )
            )
        ).all()
        counters = dict(
            (await db.execute(select(Room.id, Room.last_seq).where(Room.id.in_(rooms)))).all()
        )
    for room_id in rooms:
        mine = sorted((seq, number) for r, seq, number, _ in rows if r == room_id)
        assert mine == [(n, n) for n in range(1, 61)]
        assert counters[room_id] == 60
    assert sorted((a.message.room_id, a.message.seq, a.message.content) for a in answers) == sorted(
        (r, seq, content) for r, seq, _, content in rows
    )


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


def published_seqs(subscription_events: list[bytes]) -> list[tuple[str, int]]:
    return [
        (m["room_id"], m["id"])
        for data in subscription_events
        for m in orjson.loads(data)["messages"]
    ]


async def stored_seqs(sessionmaker: Sessionmaker, room_id: str) -> list[int]:
    async with unit_of_work(sessionmaker) as db:
        rows = await db.scalars(
            select(Message.seq).where(Message.room_id == room_id).order_by(Message.seq)
        )
        return list(rows)


async def test_a_nul_sender_in_another_room_cannot_fail_anyone_elses_messages(
    client: httpx.AsyncClient, alice: Account, bob: Account, sessionmaker: Sessionmaker
) -> None:
    """The parser refuses NUL; this goes around it, as a bug or a new entry point would.
    PostgreSQL refuses the NUL message (not an integrity error): it alone fails."""
    victims_room = await create_room(client, alice)
    attackers_room = await create_room(client, bob)
    broker = MemoryBroker()
    async with (
        store_on(sessionmaker, broker) as store,
        broker.subscribe(room_channel("chat", victims_room)) as published,
    ):
        results = await asyncio.gather(
            *(
                send(store, victims_room, alice, f"victim {n}", f"v{n}")
                if n % 2
                else send(store, attackers_room, bob, f"nul\u0000{n}")
                for n in range(80)
            ),
            return_exceptions=True,
        )
    victims = results[1::2]
    assert all(isinstance(r, Appended) for r in victims), victims
    assert [r.message.seq for r in victims if isinstance(r, Appended)] == list(range(1, 41))
    assert await stored_seqs(sessionmaker, victims_room) == list(range(1, 41))
    seen = []
    while (event_ := published.get_nowait()) is not None:
        seen.append(event_.data)
    assert [seq for room, seq in published_seqs(seen) if room == victims_room] == list(range(1, 41))
    if sessionmaker.kw["bind"].dialect.name == "postgresql":
        assert all(isinstance(r, StoreUnavailable) for r in results[0::2])
        assert await stored_seqs(sessionmaker, attackers_room) == []


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (GOCHAT_TEST_DATABASE_URL): the outage is a cut proxy")
    return database_url


class CommitWatchingSession(Session):
    """A plain session; the test listens to its commits (SQLAlchemy's own event)."""


async def test_an_outage_after_a_commit_still_answers_and_publishes_the_committed(
    client: httpx.AsyncClient,
    alice: Account,
    postgres_url: str,
    settings: Settings,
    sessionmaker: Sessionmaker,
) -> None:
    """The batch fails (a sender that does not exist), is committed again in parts, and the
    database goes away right after the first part's commit: that part is answered as stored
    and published; the rest is "try again" and really is not stored."""
    room_id = await create_room(client, alice)
    ghost = Account(id=2**40, username="ghost", email="ghost@example.com", token="")
    with cuttable(postgres_url) as proxy:
        engine = create_engine(make_settings(proxy.url_for(postgres_url), settings.data_dir))
        through_proxy = async_sessionmaker(
            engine, expire_on_commit=False, sync_session_class=CommitWatchingSession
        )
        commits = 0

        def cut_after_first_commit(_session: Session) -> None:
            nonlocal commits
            commits += 1
            if commits == 1:
                proxy.cut()

        event.listen(CommitWatchingSession, "after_commit", cut_after_first_commit)
        broker = MemoryBroker()
        try:
            async with (
                store_on(through_proxy, broker) as store,
                broker.subscribe(room_channel("chat", room_id)) as published,
            ):
                results = await asyncio.gather(
                    send(store, room_id, ghost, "from nobody"),
                    *(send(store, room_id, alice, f"m{n}") for n in range(7)),
                    return_exceptions=True,
                )
        finally:
            event.remove(CommitWatchingSession, "after_commit", cut_after_first_commit)
            await engine.dispose()
    appended = [r for r in results if isinstance(r, Appended)]
    assert appended, results  # the first part was committed before the cut
    assert all(isinstance(r, Appended | StoreUnavailable) for r in results)
    seqs = [r.message.seq for r in appended]
    assert await stored_seqs(sessionmaker, room_id) == seqs
    events = []
    while (event_ := published.get_nowait()) is not None:
        events.append(event_.data)
    assert published_seqs(events) == [(room_id, seq) for seq in seqs]


@asynccontextmanager
async def broker_behind(redis_url: str) -> AsyncIterator[tuple[RedisBroker, CuttableProxy]]:
    """A Redis broker whose connection runs through a proxy the test cuts."""
    with cuttable(redis_url) as proxy:
        redis = Redis.from_url(proxy.url_for(redis_url), socket_connect_timeout=1)
        try:
            yield RedisBroker(redis), proxy
        finally:
            await redis.aclose()


async def next_published(subscription: Subscription, timeout: float = 10) -> list[tuple[str, int]]:
    async with asyncio.timeout(timeout):
        async for event_ in subscription:
            if not event_.reset:
                return published_seqs([event_.data])
    raise AssertionError("unreachable")


async def test_a_batch_the_broker_refused_is_published_once_it_is_back(
    client: httpx.AsyncClient,
    alice: Account,
    sessionmaker: Sessionmaker,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No later message is needed: the idle writer publishes it again by itself."""
    monkeypatch.setattr(store_module, "PUBLISH_PATIENCE_SECONDS", 0.3)
    monkeypatch.setattr(store_module, "REPUBLISH_EVERY_SECONDS", 0.2)
    room_id = await create_room(client, alice)
    namespace = f"chat-{room_id}"
    listener = Redis.from_url(redis_url)
    try:
        async with (
            broker_behind(redis_url) as (broker, proxy),
            RedisBroker(listener).subscribe(room_channel(namespace, room_id)) as published,
            MessageStore(sessionmaker, broker, namespace, queue_size=100, batch_max=50) as store,
        ):
            proxy.cut()
            first = await send(store, room_id, alice, "while redis is away")
            assert first.message.seq == 1  # stored and answered, though not yet published
            proxy.restore()
            assert await next_published(published) == [(room_id, 1)]
            await send(store, room_id, alice, "after")
            assert await next_published(published) == [(room_id, 2)]  # 1 is not sent again
    finally:
        await listener.aclose()


async def test_shutdown_answers_a_committed_batch_as_stored(
    client: httpx.AsyncClient,
    alice: Account,
    sessionmaker: Sessionmaker,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store stops while a committed batch is still trying to reach the broker: its
    sender is told it is stored (it is), never "stopping" (it would send it again)."""
    monkeypatch.setattr(store_module, "PUBLISH_PATIENCE_SECONDS", 1.0)
    room_id = await create_room(client, alice)
    async with broker_behind(redis_url) as (broker, proxy):
        proxy.cut()
        store = MessageStore(sessionmaker, broker, "chat", queue_size=100, batch_max=50)
        async with store:
            done = await store.submit(
                room_id=room_id,
                user_id=alice.id,
                username=alice.username,
                content="committed, then the service stops",
                client_id=None,
            )
            for _ in range(200):  # until committed (bounded)
                if await stored_seqs(sessionmaker, room_id):
                    break
                await asyncio.sleep(0.02)
            assert not done.done()  # still publishing
    assert done.result().message.seq == 1


async def test_a_dead_writer_fails_its_waiting_senders_and_is_reported(
    client: httpx.AsyncClient, alice: Account, sessionmaker: Sessionmaker
) -> None:
    """Nobody waits forever for a writer that is gone (here cancelled, as a bug would end it)."""
    room_id = await create_room(client, alice)
    reported: list[tuple[str, BaseException | None]] = []
    store = MessageStore(
        sessionmaker,
        MemoryBroker(),
        "chat",
        queue_size=10,
        batch_max=5,
        on_failure=lambda name, exc: reported.append((name, exc)),
    )
    async with store:
        waiting = await store.submit(
            room_id=room_id, user_id=alice.id, username=alice.username, content="hi", client_id=None
        )
        writer = store._writer
        assert writer is not None
        writer.cancel()
        with pytest.raises(StoreUnavailable, match="writer stopped"):
            await waiting
        with pytest.raises(StoreUnavailable, match="writer stopped"):
            await send(store, room_id, alice, "later")
    assert reported == [("ws-message-writer", None)]


async def test_edits_and_deletions_in_a_batch_take_seqs_but_are_not_counted_as_messages(
    client: httpx.AsyncClient, alice: Account, bob: Account, sessionmaker: Sessionmaker
) -> None:
    """Events share a batch with messages of two rooms: each takes the room's next seq, its
    `number` is the message count at its place, `last_message_seq` stays on the newest
    message; a refused event takes no seq (no gap) and fails alone."""
    rooms = [await create_room(client, alice) for _ in range(2)]
    async with store_on(sessionmaker) as store:
        for room_id in rooms:
            await send(store, room_id, alice, "first")
            await send(store, room_id, bob, "bob's")

        def event(
            room_id: str, who: Account, kind: Literal["edit", "delete"], target: int
        ) -> Coroutine[Any, Any, Appended]:
            posted = PostedEvent(kind, target, "edited" if kind == "edit" else None)
            return store.append_event(
                room_id=room_id, user_id=who.id, username=who.username, event=posted
            )

        results = await asyncio.gather(
            event(rooms[0], alice, "edit", 1),
            send(store, rooms[0], alice, "second"),
            event(rooms[0], bob, "edit", 1),  # not bob's: refused
            event(rooms[0], alice, "delete", 1),
            event(rooms[0], alice, "edit", 1),  # deleted just before, in the same batch
            event(rooms[1], bob, "delete", 2),
            event(rooms[1], alice, "delete", 99),
            return_exceptions=True,
        )
    refused = [r.code if isinstance(r, EventRefused) else None for r in results]
    assert refused == [None, None, "forbidden", None, "not_found", None, "not_found"]
    stored = [r.message for r in results if isinstance(r, Appended)]
    assert [(m.room_id, m.seq, m.kind, m.target) for m in stored] == [
        (rooms[0], 3, "edit", 1),
        (rooms[0], 4, "message", None),
        (rooms[0], 5, "delete", 1),
        (rooms[1], 3, "delete", 2),
    ]
    assert results[0].target is not None and results[0].target.content == "edited"
    async with unit_of_work(sessionmaker) as db:
        found = await db.execute(select(Message).where(Message.room_id.in_(rooms)))
        rows = {(m.room_id, m.seq): m for m in found.scalars()}
        counters = {
            room.id: (room.last_seq, room.message_count, room.last_message_seq)
            for room in (await db.execute(select(Room).where(Room.id.in_(rooms)))).scalars()
        }
    assert [rows[(rooms[0], seq)].number for seq in range(1, 6)] == [1, 2, 2, 3, 3]
    assert (rows[(rooms[0], 1)].content, rows[(rooms[0], 1)].deleted) == ("", True)
    assert rows[(rooms[1], 2)].deleted and rows[(rooms[1], 3)].number == 2
    assert counters == {rooms[0]: (5, 3, 4), rooms[1]: (3, 2, 2)}


async def test_the_writer_stores_while_the_shared_pool_is_exhausted(
    client: httpx.AsyncClient, alice: Account, settings: Settings, postgres_url: str
) -> None:
    """A storm of handshakes holds the shared pool; the message writer has connections of
    its own (PostgreSQL), so messages are still stored meanwhile."""
    room_id = await create_room(client, alice)
    tight = settings.model_copy(update={"database_pool_size": 1})
    async with Runtime.open(tight) as runtime:
        metrics = ChatMetrics(CollectorRegistry())
        async with open_chat(runtime, metrics=metrics, supervisor=Supervisor()) as chat:
            held = [await runtime.engine.connect() for _ in range(2)]  # 1 + 1 overflow
            try:
                async with asyncio.timeout(10):
                    stored = await send(chat.store, room_id, alice, "still stored")
            finally:
                for connection in held:
                    await connection.close()
    assert not stored.duplicate and stored.message.seq == 1
