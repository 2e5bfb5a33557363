"""Fixtures: one migrated database per run, real servers on loopback, real clients."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from gochat.dev import create_dev_app
from shared.settings import Settings
from tests.support.databases import fresh_database
from tests.support.servers import ThreadServer

REDIS_URL = os.environ.get("GOCHAT_TEST_REDIS_URL")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    with fresh_database(data_dir) as url:
        yield url


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Test settings: argon2id with small memory so hundreds of sign-ups stay quick, and a
    sign-up limit out of the way (its own test turns it back on)."""
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "register_limit": "100000/minute",
        "login_failure_limit": "1000/minute",
        # Every test client connects from 127.0.0.1; the caps' own tests turn them back on.
        "ws_max_connections_per_address": 1_000_000,
        "ws_max_connections_per_user": 100_000,
        "ws_handshake_rate_per_second": 100_000.0,
        "ws_handshake_burst": 100_000,
        "redis_namespace": f"gochat-test-{secrets.token_hex(4)}",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(database_url, data_dir)


@pytest.fixture(scope="session")
def dev_server(settings: Settings) -> Iterator[ThreadServer]:
    """The all-in-one server (/auth, /users, /chat) that most tests talk to."""
    server = ThreadServer(create_dev_app(settings), settings).start()
    yield server
    server.stop()


@pytest.fixture
async def client(dev_server: ThreadServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=dev_server.url, timeout=30) as http:
        yield http


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("GOCHAT_TEST_REDIS_URL is not set")
    return REDIS_URL
