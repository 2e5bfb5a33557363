"""Account events reach the other services even when the broker refuses for a moment."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shared.broker import RedisBroker
from shared.events import AccountEvent, control_channel, publish_account_event

PASSWORD = "not-yet"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[int]:
    """A Redis of this test's own (never the shared one), that asks for a password."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
            "--requirepass",
            PASSWORD,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_a_logout_event_is_published_once_the_broker_takes_it_again(
    private_redis: int,
) -> None:
    """Defect 6: `announce_logout` published once; a broker refusing at that moment lost
    the event (and the logged-out sockets stayed open until the periodic re-check)."""
    admin = Redis(port=private_redis, password=PASSWORD)
    # No password: every command fails until the server stops asking for one; and no
    # retries of the client's own, so that only `publish_account_event`'s are tested.
    refused = Redis(port=private_redis, retry=Retry(NoBackoff(), 0))
    listener = admin.pubsub()
    await listener.subscribe(control_channel("events-test"))
    event = AccountEvent("user_deleted", 7)
    try:
        publishing = asyncio.create_task(
            publish_account_event(RedisBroker(refused), "events-test", event)
        )
        await asyncio.sleep(1)
        assert not publishing.done()  # still trying
        await admin.config_set("requirepass", "")
        async with asyncio.timeout(10):
            await publishing
            while (message := await listener.get_message(timeout=1.0)) is None or message[
                "type"
            ] != "message":
                pass
        assert AccountEvent.decode(message["data"]) == event
    finally:
        await listener.aclose()  # type: ignore[no-untyped-call]
        await refused.aclose()
        await admin.aclose()
