"""Chat servers with their own settings, next to the all-in-one `dev_server`.

A standalone ws service on the same database (and the same generated keys) verifies tokens
that the dev server's auth service issued.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.broker import MemoryBroker
from shared.database import create_engine, create_sessionmaker
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.ws.chat_client import create_room
from ws_service.app import create_app

# Enough for the load tests; the limits themselves are tested on the dev server.
UNLIMITED = {"ws_rate_per_second": 100_000.0, "ws_rate_burst": 100_000}
RESUME_MAX = 100  # instead of 1,000, so the bound is reached quickly


@pytest.fixture(scope="session")
def chat_server(
    database_url: str, data_dir: Path, dev_server: ThreadServer
) -> Iterator[ThreadServer]:
    """A standalone ws service without rate limits; its paths have no /chat prefix."""
    settings = make_settings(database_url, data_dir, ws_resume_max_messages=RESUME_MAX, **UNLIMITED)
    server = ThreadServer(create_app(settings), settings).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plain_asgi_server(
    database_url: str, data_dir: Path, dev_server: ThreadServer
) -> Iterator[ThreadServer]:
    """uvicorn's own sans-I/O protocol, without our frame writer: every frame goes through
    ASGI `send` (the path under any other server)."""
    settings = make_settings(
        database_url, data_dir, ws_client_queue_frames=16, ws_store_batch_max=16, **UNLIMITED
    )
    server = ThreadServer(create_app(settings), settings)
    server.server.config.ws = "websockets-sansio"
    yield server.start()
    server.stop()


@pytest.fixture
async def chat_http(chat_server: ThreadServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=chat_server.url, timeout=30) as http:
        yield http


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> Account:
    return await register(client, "alice")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> Account:
    return await register(client, "bob")


# The hub's tests (test_hub.py, test_session_guard.py): a real database, the in-process broker.


@pytest.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def namespace() -> str:
    return f"hub-{secrets.token_hex(4)}"


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
async def room_id(client: httpx.AsyncClient, alice: Account) -> str:
    return await create_room(client, alice)
