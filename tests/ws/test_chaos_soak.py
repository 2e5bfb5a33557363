"""The chaos soak: two `gochat serve ws` instances on a PostgreSQL and a Redis of the test's
own, clients chatting in a few rooms, while the test disconnects random clients (they
resume with `?after=`), SIGKILLs and restarts each instance, restarts Redis, restarts
PostgreSQL and sends frames with NUL in them.

At the end it reads every room from the database and checks what each client received
(live and on resume, over all its connections): every stored message exactly once, in
sequence order, with no gap; every acknowledged message stored; and no client stuck behind.
Bounded in time and count (about 40 s of chaos plus the restarts, whose time depends on the
machine's load); it asserts correctness only, never timing. The numbers are
printed (`pytest -s`).

A client joins before its room has any message and stays a member to the end, so it must
receive all of the room's messages. Messages are never sent twice (each has its own
client_id): the sender alone would get a repeated one's original back, which is not part of
the room's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidHandshake, WebSocketException

from gochat.dev import create_dev_app
from shared.schema import upgrade_to_head
from tests.conftest import make_settings
from tests.support.private_servers import (
    PrivatePostgres,
    PrivateRedis,
    missing_tools,
    private_servers,
)
from tests.support.servers import ProcessServer, ThreadServer
from tests.support.users import Account, register
from tests.ws.chat_client import create_room, join, send_message

pytestmark = pytest.mark.slow

SEED = 11
ROOMS = 3
CLIENTS_PER_ROOM = 8
SEND_EVERY = (0.3, 0.7)  # seconds between one client's messages (uniform)
# The chaos: each step this long after the previous one finished (a restart takes as long as
# it takes); messages flow throughout, and for one more pause after the last step.
PAUSE_SECONDS = 8.0
CATCH_UP_SECONDS = 60.0  # after the chaos: every client reaches its room's last message
DISCONNECT_EVERY = 1.5
NUL_EVERY = 4  # the NUL sender puts a NUL in every 4th message
# A bound, not a measurement: on a loaded two-core machine a ws process takes 15 s and more.
START_TIMEOUT = 120.0


@pytest.fixture
def servers(database_url: str) -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the soak restarts PostgreSQL: it runs in the PostgreSQL pass")
    missing = missing_tools()
    if missing:
        pytest.skip(missing)
    with private_servers() as running:
        yield running


@dataclass
class Client:
    """One chat user in one room: chats, reconnects with `?after=` the last id it saw, and
    records every `message` frame of the room it receives."""

    name: str
    account: Account
    room_id: str
    rng: random.Random
    nul_sender: bool = False
    received: list[tuple[int, str]] = field(default_factory=list)  # (id, content), in order
    sent: int = 0
    acked: set[str] = field(default_factory=set)  # client_ids seen stored
    unavailable: int = 0  # messages answered "unavailable" (not stored: try again)
    refused: int = 0  # invalid_content answers to NUL frames
    resumed: int = 0  # messages received as history when reconnecting
    connections: int = 0
    ws: ClientConnection | None = None

    @property
    def last_id(self) -> int:
        return self.received[-1][0] if self.received else 0

    async def run(self, urls: list[str], sending: asyncio.Event, done: asyncio.Event) -> None:
        while not done.is_set():
            try:
                url = self.rng.choice(urls)
                async with join(
                    url, self.room_id, self.account, prefix="", after=self.last_id, max_queue=None
                ) as ws:
                    self.ws = ws
                    self.connections += 1
                    await self._chat(ws, sending, done)
            except (WebSocketException, InvalidHandshake, OSError, TimeoutError):
                pass
            finally:
                self.ws = None
            await asyncio.sleep(0.2)

    async def _chat(
        self, ws: ClientConnection, sending: asyncio.Event, done: asyncio.Event
    ) -> None:
        history = True

        async def read() -> None:
            nonlocal history
            async for data in ws:
                frame = orjson.loads(data)
                if frame["type"] == "ready":
                    history = False
                elif frame["type"] == "message":
                    self.received.append((frame["id"], frame["content"]))
                    self.resumed += history and self.connections > 1
                    if frame["user_id"] == self.account.id:
                        self.acked.add(frame["client_id"])
                elif frame["type"] == "error":
                    if frame["code"] == "invalid_content":
                        self.refused += 1
                    elif frame["code"] == "unavailable":
                        self.unavailable += 1

        reader = asyncio.create_task(read())
        try:
            while not reader.done() and not done.is_set():
                await asyncio.sleep(self.rng.uniform(*SEND_EVERY))
                if sending.is_set() and not history and not reader.done():
                    await self._send_one(ws)
            if not reader.done():
                await ws.close()
            await reader
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketException, OSError):
                await reader

    async def _send_one(self, ws: ClientConnection) -> None:
        n = self.sent
        self.sent += 1
        if self.nul_sender and n % NUL_EVERY == 0:
            await ws.send(orjson.dumps({"type": "message", "content": f"nul\u0000{n}"}).decode())
            return
        await send_message(ws, f"{self.name} #{n}", client_id=f"{self.name}-{n}")


async def stored_rooms(
    url: str, room_ids: list[str]
) -> dict[str, list[tuple[int, str, str | None]]]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch(
            "SELECT room_id, seq, content, client_id FROM messages"
            " WHERE room_id = ANY($1::text[]) ORDER BY room_id, seq",
            room_ids,
        )
    finally:
        await conn.close()
    rooms: dict[str, list[tuple[int, str, str | None]]] = {room_id: [] for room_id in room_ids}
    for row in rows:
        rooms[row["room_id"]].append((row["seq"], row["content"], row["client_id"]))
    return rooms


async def test_chat_survives_disconnects_kills_and_restarts_without_losing_or_repeating(
    servers: tuple[PrivatePostgres, PrivateRedis], tmp_path: Path
) -> None:
    postgres, redis = servers
    rng = random.Random(SEED)
    database = "gochat"
    admin = await asyncpg.connect(postgres.url.replace("postgresql+asyncpg", "postgresql"))
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    database_url = postgres.url.rsplit("/", 1)[0] + f"/{database}"
    await asyncio.to_thread(upgrade_to_head, database_url)

    # Accounts and rooms through the real API; the instances share the generated keys.
    data_dir = tmp_path / "data"
    settings = make_settings(database_url, data_dir)
    setup = ThreadServer(create_dev_app(settings), settings).start()
    try:
        async with httpx.AsyncClient(base_url=setup.url, timeout=30) as http:
            owner = await register(http, "owner")
            room_ids = [await create_room(http, owner) for _ in range(ROOMS)]
            clients = []
            for n in range(ROOMS * CLIENTS_PER_ROOM):
                account = await register(http, f"c{n}")
                clients.append(
                    Client(
                        f"c{n}",
                        account,
                        room_ids[n % ROOMS],
                        random.Random(rng.random()),
                        nul_sender=n == 0,
                    )
                )
    finally:
        setup.stop()

    env = {
        "GOCHAT_ENV": "test",
        "GOCHAT_DATABASE_URL": database_url,
        "GOCHAT_DATA_DIR": str(data_dir),
        "GOCHAT_REDIS_URL": redis.url,
        "GOCHAT_REDIS_NAMESPACE": f"soak-{secrets.token_hex(4)}",
        "GOCHAT_LOG_LEVEL": "warning",
        "GOCHAT_WS_RATE_PER_SECOND": "1000",
        "GOCHAT_WS_RATE_BURST": "1000",
        "GOCHAT_WS_RESUME_MAX_MESSAGES": "10000",
        "GOCHAT_DATABASE_POOL_SIZE": "5",
    }
    instances = [
        ProcessServer(["serve", "ws"], env, log_path=tmp_path / f"ws-{n}.log") for n in (1, 2)
    ]
    urls = [instance.url for instance in instances]
    sending = asyncio.Event()
    done = asyncio.Event()
    events: list[str] = []
    started = time.monotonic()

    def note(what: str) -> None:
        events.append(f"{time.monotonic() - started:5.1f}s {what}")

    starting: list[asyncio.Task[None]] = []  # instances coming back, awaited before the end

    async def restart_instance(index: int) -> None:
        """SIGKILL, then a new process on the same port, left starting (it takes a while
        on a loaded machine: clients retry meanwhile)."""
        instance = instances[index]
        await asyncio.to_thread(instance.kill)
        note(f"ws-{index + 1} killed")
        await asyncio.sleep(1.0)
        instances[index] = replacement = ProcessServer(
            ["serve", "ws"], env, port=instance.port, log_path=tmp_path / f"ws-{index + 1}b.log"
        )

        async def start() -> None:
            await asyncio.to_thread(replacement.start, START_TIMEOUT)
            note(f"ws-{index + 1} back")

        starting.append(asyncio.create_task(start()))

    async def instances_back() -> None:
        """Both instances serve (so that every client can connect for the catch-up)."""
        await asyncio.gather(*starting)

    async def restart(name: str, server: PrivatePostgres | PrivateRedis) -> None:
        """Killed (no shutdown), then started again on the same port, with its data."""
        await asyncio.to_thread(server.kill)
        note(f"{name} killed")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(server.start)
        note(f"{name} restarted")

    async def disconnect_clients() -> None:
        while not done.is_set() and sending.is_set():
            await asyncio.sleep(DISCONNECT_EVERY)
            victim = rng.choice(clients)
            if victim.ws is not None and victim.ws.transport is not None:
                victim.ws.transport.abort()  # the network drops: no close handshake

    chaos = [
        lambda: restart_instance(0),
        lambda: restart("redis", redis),
        lambda: restart("postgres", postgres),
        instances_back,
        lambda: restart_instance(1),
    ]

    try:
        for instance in instances:
            await asyncio.to_thread(instance.start, START_TIMEOUT)
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(c.run(urls, sending, done)) for c in clients]
            # Everyone is a member before the first message.
            for _ in range(200):
                if all(c.connections for c in clients):
                    break
                await asyncio.sleep(0.05)
            sending.set()
            started = time.monotonic()
            note("sending")
            disconnector = group.create_task(disconnect_clients())
            for action in chaos:
                await asyncio.sleep(PAUSE_SECONDS)
                await action()
            await asyncio.sleep(PAUSE_SECONDS)
            sending.clear()
            note("sending stopped")
            await instances_back()
            await disconnector
            # Until every client has its room's last stored message (read again each time:
            # messages sent last may still be committing).
            deadline = time.monotonic() + CATCH_UP_SECONDS
            while True:
                stored = await stored_rooms(database_url, room_ids)
                last = {room: (rows[-1][0] if rows else 0) for room, rows in stored.items()}
                caught_up = all(c.last_id >= last[c.room_id] for c in clients)
                if caught_up or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            note("caught up" if caught_up else "stuck")
            done.set()
            for client in clients:
                if client.ws is not None:
                    await client.ws.close()
            await asyncio.gather(*running)
    finally:
        await asyncio.gather(*starting, return_exceptions=True)  # each bounded by its timeout
        for instance in instances:
            await asyncio.to_thread(instance.stop)

    sent = sum(c.sent for c in clients)
    acked = sum(len(c.acked) for c in clients)
    delivered = sum(len(c.received) for c in clients)
    resumed = sum(c.resumed for c in clients)
    refused = sum(c.refused for c in clients)
    unavailable = sum(c.unavailable for c in clients)
    print(  # the numbers for the report (pytest -s)
        f"\nchaos soak: sent {sent}, acknowledged {acked}, stored "
        f"{sum(len(rows) for rows in stored.values())}, delivered {delivered} "
        f"(resumed {resumed}), refused {refused} (NUL), unavailable {unavailable}, "
        f"connections {sum(c.connections for c in clients)}\n  " + "\n  ".join(events)
    )

    for room_id, rows in stored.items():
        seqs = [seq for seq, _content, _cid in rows]
        assert seqs == list(range(1, len(rows) + 1)), f"{room_id}: a gap in {seqs}"
        client_ids = [cid for _seq, _content, cid in rows]
        assert len(client_ids) == len(set(client_ids)), f"{room_id}: a message stored twice"
        assert all("\x00" not in content for _seq, content, _cid in rows)
    stored_ids = {cid for rows in stored.values() for _seq, _content, cid in rows}
    problems: list[str] = []
    for client in clients:
        expected = [(seq, content) for seq, content, _cid in stored[client.room_id]]
        if client.received != expected:
            problems.append(f"{client.name}: {describe(client.received, expected)}")
        if not client.acked <= stored_ids:
            problems.append(
                f"{client.name}: acknowledged but not stored: {client.acked - stored_ids}"
            )
    assert not problems, "\n".join(problems)
    assert refused > 0 and acked > 0


def describe(received: list[tuple[int, Any]], expected: list[tuple[int, Any]]) -> str:
    """Where a client's stream departs from the room's: the first difference."""
    ids = [seq for seq, _ in received]
    repeats = sorted({seq for seq in ids if ids.count(seq) > 1})
    missing = sorted({seq for seq, _ in expected} - set(ids))
    for index, (got, want) in enumerate(zip(received, expected, strict=False)):
        if got != want:
            return (
                f"differs at #{index}: got {got[0]}, expected {want[0]}; "
                f"repeated {repeats[:10]}, missing {missing[:10]} "
                f"({len(received)} received, {len(expected)} stored)"
            )
    return f"{len(received)} received, {len(expected)} stored; missing {missing[:10]}"
