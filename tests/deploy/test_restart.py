"""Restarting Redis, then PostgreSQL, under light chat traffic through the stack: it serves
again within seconds, and every message a sender saw acknowledged is in the room's history.

These are the machine's own servers, restarted with its own commands, so any other test run
using them at that moment breaks: the test runs only with GOCHAT_TEST_RESTART_SERVICES=1, and
CI runs it alone after the suites. Both servers are brought back even when the test fails.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from gochat.processes import free_port
from gochat.stack import Stack
from tests.conftest import REDIS_URL
from tests.deploy.test_stack import stack_environment
from tests.support.users import Account, register
from tests.ws.chat_client import create_room, join, next_of, send_message, until_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("GOCHAT_TEST_RESTART_SERVICES") != "1",
        reason="restarts the machine's PostgreSQL and Redis: GOCHAT_TEST_RESTART_SERVICES=1",
    ),
]

BACK_WITHIN_SECONDS = 30.0  # a bound on waiting, not a measurement: the time is reported


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def postgres_is_up() -> bool:
    return run("pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432").returncode == 0


def redis_is_up() -> bool:
    return run("redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping").stdout.strip() == "PONG"


def postgres(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    run("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action)


def restart_postgres() -> None:
    postgres("restart")


def start_redis() -> None:
    run(
        "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
        "--save", "", "--appendonly", "no",
    )  # fmt: skip


def restart_redis() -> None:
    run("redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave")
    start_redis()


def wait_for(check: Any, name: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not come back")
        time.sleep(0.2)


@contextlib.contextmanager
def machine_services_restored() -> Iterator[None]:
    """Whatever happens inside, PostgreSQL and Redis answer again afterwards."""
    try:
        yield
    finally:
        if not redis_is_up():
            start_redis()
        if not postgres_is_up():
            postgres("start")
        wait_for(redis_is_up, "Redis")
        wait_for(postgres_is_up, "PostgreSQL")


@pytest.fixture
def stack(
    database_url: str, nginx: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = stack_environment(database_url)
    for url in (database_url, REDIS_URL or ""):
        if urlsplit(url).port not in (5432, 6379):
            pytest.skip("restarts the machine's PostgreSQL on 5432 and Redis on 6379")
    run_dir = tmp_path_factory.mktemp("stack")
    with Stack(env, run_dir, gateway_port=free_port(), nginx=nginx) as running:
        yield running


@dataclass
class Sender:
    """Sends a numbered message every 100 ms through the gateway and waits for its echo.
    A send that is not acknowledged is sent again with the same client_id (stored once)
    after reconnecting with ?after=; `acked` is what the server confirmed."""

    stack: Stack
    room_id: str
    account: Account
    acked: dict[str, int] = field(default_factory=dict)  # content -> message id
    reconnects: int = 0
    last_id: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        ws: ClientConnection | None = None
        while not stop.is_set():
            content = f"{self.account.username} #{n}"
            try:
                if ws is None:
                    ws = await join(self.stack.url, self.room_id, self.account, after=self.last_id)
                    history, ready = await until_ready(ws)
                    self.last_id = max([self.last_id, ready["last_id"]])
                    self._note(history)
                await send_message(ws, content, client_id=f"{self.account.username}-{n}")
                while content not in self.acked:
                    frame = await next_of(ws, "message", timeout=5)
                    self._note([frame])
                n += 1
                await asyncio.sleep(0.1)
            except (WebSocketException, OSError, TimeoutError):
                if ws is not None:
                    with contextlib.suppress(Exception):
                        await ws.close()
                ws = None
                self.reconnects += 1
                await asyncio.sleep(0.25)
        if ws is not None:
            await ws.close()

    def _note(self, frames: list[dict[str, Any]]) -> None:
        for frame in frames:
            self.last_id = max(self.last_id, frame["id"])
            if frame["user_id"] == self.account.id:
                self.acked[frame["content"]] = frame["id"]


async def restart_and_time(
    restart: Any, stack: Stack, http: httpx.AsyncClient, account: Account
) -> float:
    """Seconds from the restart's start until every instance is ready again and a request
    through the gateway works."""
    started = time.monotonic()
    await asyncio.to_thread(restart)
    while time.monotonic() - started < BACK_WITHIN_SECONDS:
        with contextlib.suppress(httpx.HTTPError):
            ready = [
                (await http.get(process.url + process.ready_path)).status_code == 200
                for process in stack.services.values()
            ]
            me = await http.get(stack.url + "/auth/me", headers=account.headers)
            if all(ready) and me.status_code == 200:
                return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"the stack did not serve again within {BACK_WITHIN_SECONDS} s")


async def test_restarting_redis_then_postgres_loses_no_acknowledged_message(
    stack: Stack,
) -> None:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        alice = await register(http, "alice")
        bob = await register(http, "bob")
        room_id = await create_room(http, alice)
        senders = [Sender(stack, room_id, alice), Sender(stack, room_id, bob)]
        stop = asyncio.Event()
        statuses: collections.Counter[int] = collections.Counter()

        async def browse() -> None:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError):
                    statuses[(await http.get("/auth/me", headers=alice.headers)).status_code] += 1
                await asyncio.sleep(0.1)

        with machine_services_restored():
            async with asyncio.TaskGroup() as group:
                for sender in senders:
                    group.create_task(sender.run(stop))
                group.create_task(browse())
                await asyncio.sleep(1.5)
                before = sum(len(s.acked) for s in senders)

                after_redis = await restart_and_time(restart_redis, stack, http, alice)
                await asyncio.sleep(1.0)
                after_postgres = await restart_and_time(restart_postgres, stack, http, alice)
                await asyncio.sleep(1.5)
                stop.set()

        print(  # the numbers for the report (pytest -s)
            f"serving again {after_redis:.2f} s after Redis began restarting, "
            f"{after_postgres:.2f} s after PostgreSQL did; "
            f"acknowledged {[len(s.acked) for s in senders]}, "
            f"reconnects {[s.reconnects for s in senders]}, HTTP {dict(statuses)}"
        )
        assert sum(len(s.acked) for s in senders) > before  # chat went on afterwards
        assert 500 not in statuses

        reader = await join(stack.url, room_id, bob, after=0)
        history, _ready = await until_ready(reader)
        await reader.close()
        stored = {m["id"]: m["content"] for m in history}
        assert sorted(stored) == list(range(1, len(stored) + 1))  # gapless, none twice
        for sender in senders:
            for content, message_id in sender.acked.items():
                assert stored.get(message_id) == content
