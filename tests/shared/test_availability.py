"""Readiness and outages: a service starts before PostgreSQL or Redis, says so at /readyz,
answers 503 JSON while either is away and serves again by itself when it is back.

The outages are made with a cuttable TCP proxy in front of the real servers, never by
stopping them (other test runs share them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from websockets.exceptions import InvalidStatus

from auth_service.app import create_app as create_auth_app
from shared import availability, database
from shared.database import create_engine
from shared.schema import upgrade_to_head
from shared.service_app import build_service_app
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.databases import empty_database
from tests.support.proxy import cuttable
from tests.support.servers import ProcessServer, ThreadServer, free_port, wait_until_ready
from tests.support.users import PASSWORD, register, unique_name
from tests.ws.chat_client import create_room, join, next_of, send_message, until_ready
from ws_service.app import create_app as create_ws_app


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL (GOCHAT_TEST_DATABASE_URL)")
    return database_url


@asynccontextmanager
async def auth_service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    server = ThreadServer(create_auth_app(settings), settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield http
    finally:
        server.stop()


async def test_readyz_is_200_with_every_dependency_ok(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/users/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "service": "user",
        "status": "ready",
        "checks": {"database": "ok"},
    }
    assert (await client.get("/users/")).json() == {"service": "user", "status": "ok"}


async def test_a_service_starts_before_its_database_and_serves_once_it_answers(
    postgres_url: str, data_dir: Path
) -> None:
    with cuttable(postgres_url, listening=False) as postgres:
        settings = make_settings(postgres.url_for(postgres_url), data_dir)
        async with auth_service(settings) as http:
            assert (await http.get("/")).status_code == 200
            waiting = await http.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.json()["status"] == "unavailable"
            assert waiting.json()["checks"]["database"].startswith("unreachable")
            name = unique_name("early")
            refused = await http.post(
                "/register",
                json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
            )
            assert refused.status_code == 503
            assert refused.json()["detail"].startswith("database unavailable")
            assert refused.headers["retry-after"]

            postgres.restore()
            await wait_until_ready(http)
            await register(http, "late", auth_path="")


async def test_a_database_outage_costs_requests_not_the_process(
    postgres_url: str, data_dir: Path
) -> None:
    with cuttable(postgres_url) as postgres:
        settings = make_settings(postgres.url_for(postgres_url), data_dir)
        async with auth_service(settings) as http:
            account = await register(http, "outage", auth_path="")
            assert (await http.get("/me", headers=account.headers)).status_code == 200

            postgres.cut()  # every pooled connection dies, new ones are refused
            during = await http.get("/me", headers=account.headers)
            assert during.status_code == 503
            assert during.json() == {"detail": "database unavailable; try again shortly"}
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"]["database"].startswith("unreachable")

            postgres.restore()
            await wait_until_ready(http)
            assert (await http.get("/me", headers=account.headers)).status_code == 200


async def test_a_redis_outage_costs_requests_not_the_process(
    redis_url: str, database_url: str, data_dir: Path
) -> None:
    with cuttable(redis_url, listening=False) as redis:
        settings = make_settings(database_url, data_dir, redis_url=redis.url_for(redis_url))
        async with auth_service(settings) as http:
            waiting = await http.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.json()["checks"] == {
                "database": "ok",
                "redis": waiting.json()["checks"]["redis"],
            }
            assert waiting.json()["checks"]["redis"].startswith("unreachable")

            redis.restore()
            await wait_until_ready(http)
            account = await register(http, "redis", auth_path="")

            redis.cut()
            login = {"email": account.email, "password": PASSWORD}
            during = await http.post("/login", json=login)
            assert during.status_code == 503
            assert during.json() == {"detail": "redis unavailable; try again shortly"}

            redis.restore()
            await wait_until_ready(http)
            assert (await http.post("/login", json=login)).status_code == 200


async def test_a_database_found_behind_the_code_is_refused_until_it_is_migrated(
    postgres_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reached only after start, and behind: still refused (503, naming `gochat migrate`)
    rather than served; once migrated, served without a restart."""
    monkeypatch.setattr(availability, "RETRY_MAX_DELAY_SECONDS", 0.2)
    async with empty_database(postgres_url) as empty_url:
        with cuttable(empty_url, listening=False) as db:
            settings = make_settings(db.url_for(empty_url), data_dir)
            async with auth_service(settings) as http:
                db.restore()
                for _ in range(100):
                    behind = await http.get("/readyz")
                    if "schema" in behind.json()["checks"]["database"]:
                        break
                    await asyncio.sleep(0.05)
                assert behind.status_code == 503
                checks = behind.json()["checks"]
                assert checks["database"] == "schema behind; run `gochat migrate`"
                refused = await http.get("/me", headers={"Authorization": "Bearer x"})
                assert refused.status_code == 503
                assert "gochat migrate" in refused.json()["detail"]

                await asyncio.to_thread(upgrade_to_head, empty_url)
                await wait_until_ready(http)
                await register(http, "migrated", auth_path="")


@pytest.mark.parametrize("service", ["auth", "user", "ws"])
async def test_gochat_serve_starts_while_its_database_cannot_be_reached(
    data_dir: Path, service: str
) -> None:
    nobody_listens = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gochat"
    env = {"GOCHAT_DATABASE_URL": nobody_listens, "GOCHAT_DATA_DIR": str(data_dir)}
    server = ProcessServer(["serve", service], env).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/")).status_code == 200
            waiting = await http.get("/readyz")
            assert waiting.status_code == 503
            assert waiting.json()["checks"]["database"] == "unreachable (ConnectionRefusedError)"
    finally:
        server.stop()


failing = APIRouter()


@failing.get("/duplicate")
async def duplicate() -> None:
    raise IntegrityError("INSERT", {}, Exception("duplicate key"))


@failing.get("/refused")
async def refused() -> None:
    raise ConnectionRefusedError(111, "Connect call failed")


@failing.get("/starting-up")
async def starting_up() -> None:
    try:
        raise asyncpg.CannotConnectNowError("the database system is starting up")
    except asyncpg.CannotConnectNowError as exc:
        adapted = Exception("adapted")
        adapted.__cause__ = exc
        raise DBAPIError("SELECT 1", {}, adapted) from exc


async def test_outages_are_503_and_other_database_errors_stay_500(settings: Settings) -> None:
    app = build_service_app(name="user", settings=settings, routers=[failing])
    server = ThreadServer(app, settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for path in ("/refused", "/starting-up"):
                outage = await http.get(path)
                assert outage.status_code == 503, path
                assert outage.json() == {"detail": "database unavailable; try again shortly"}
            bug = await http.get("/duplicate")
            assert bug.status_code == 500
            assert bug.json() == {"detail": "internal error"}
    finally:
        server.stop()


async def test_the_chat_service_starts_before_redis_and_chats_once_it_answers(
    redis_url: str, database_url: str, data_dir: Path, client: httpx.AsyncClient
) -> None:
    """Its broker subscriptions wait for Redis in the background instead of failing the
    start; once subscribed, messages flow through Redis."""
    alice = await register(client, "early")
    room_id = await create_room(client, alice)
    with cuttable(redis_url, listening=False) as redis:
        settings = make_settings(database_url, data_dir, redis_url=redis.url_for(redis_url))
        server = ThreadServer(create_ws_app(settings), settings).start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                waiting = await http.get("/readyz")
                assert waiting.status_code == 503
                assert waiting.json()["checks"]["redis"].startswith("unreachable")
                redis.restore()
                await wait_until_ready(http)
            async with join(server.url, room_id, alice, prefix="") as ws:
                await until_ready(ws)
                await send_message(ws, "through Redis")
                assert (await next_of(ws, "message"))["content"] == "through Redis"
        finally:
            server.stop()


async def test_a_database_outage_during_a_websocket_handshake_is_503_not_403(
    postgres_url: str, data_dir: Path, client: httpx.AsyncClient
) -> None:
    """Clients take 403 as final; 503 (JSON, before the upgrade) tells them to come back."""
    alice = await register(client, "handshake")
    room_id = await create_room(client, alice)
    with cuttable(postgres_url) as postgres:
        settings = make_settings(postgres.url_for(postgres_url), data_dir)
        server = ThreadServer(create_ws_app(settings), settings).start()
        try:
            async with join(server.url, room_id, alice, prefix="") as ws:
                await until_ready(ws)
            postgres.cut()
            with pytest.raises(InvalidStatus) as refused:
                async with join(server.url, room_id, alice, prefix=""):
                    pass
            assert refused.value.response.status_code == 503
            assert refused.value.response.headers["Retry-After"]
            assert orjson.loads(refused.value.response.body) == {
                "detail": "database unavailable; try again shortly"
            }
            postgres.restore()
            async with httpx.AsyncClient(base_url=server.url) as http:
                await wait_until_ready(http)
            async with join(server.url, room_id, alice, prefix="") as ws:
                await until_ready(ws)
        finally:
            server.stop()


async def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(
    postgres_url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections are pinged only after sitting idle (not on every checkout, which
    cost three round trips); one the server ended meanwhile never reaches a request."""
    engine = create_engine(make_settings(postgres_url, data_dir))
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        monkeypatch.setattr(database, "PING_IF_IDLE_SECONDS", 0.0)
        dsn = make_url(postgres_url).set(drivername="postgresql")
        killer = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await engine.dispose()
