"""What a service does while PostgreSQL or Redis is away: it starts anyway, waits for the
database in the background, says so at `/readyz`, and answers 503 instead of 500.

- `DatabaseGate` opens once the schema has been seen at head. A database that is behind is
  refused outright at start (`SchemaNotAtHead` names `gochat migrate`); a database that cannot
  be reached yet is retried by a task the gate owns, cancelled and awaited when it closes.
- `check_readiness` asks the database and Redis now, each with a short timeout.
- `install_outage_handling` turns a lost database or Redis connection in a request (or a
  websocket handshake, before the upgrade) into `503 {"detail": ...}` with `Retry-After`: an
  outage costs the requests in flight, never the process. Connections come back by
  themselves (idle pooled connections are pinged before use, see `shared.database`; a
  connection lost in use invalidates the pool; redis-py retries).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal, cast

import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection
from starlette.types import ExceptionHandler
from starlette.websockets import WebSocket

from shared.errors import ServiceUnavailable, refuse_websocket
from shared.schema import SchemaNotAtHead, ensure_at_head
from shared.tasks import cancel_and_wait

logger = logging.getLogger("gochat.availability")

CHECK_TIMEOUT_SECONDS = 2.0  # one readiness probe of one dependency
SCHEMA_CHECK_TIMEOUT_SECONDS = 10.0
RETRY_FIRST_DELAY_SECONDS = 0.25
RETRY_MAX_DELAY_SECONDS = 5.0

Dependency = Literal["database", "redis"]


class DatabaseGate:
    """Whether this process may use the database: open once the schema was seen at head."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._retry: asyncio.Task[None] | None = None
        self.is_open = False
        self.problem = "starting"

    async def start(self) -> None:
        """Check once now. A schema that is behind raises `SchemaNotAtHead` (the service must
        not start); an unreachable database leaves the gate closed and retrying."""
        try:
            await self._check()
        except SchemaNotAtHead:
            raise
        except Exception as exc:
            self._note_problem(f"unreachable ({type(exc).__name__})", exc)
            self._retry = asyncio.create_task(self._keep_checking(), name="database-gate")

    async def aclose(self) -> None:
        retry, self._retry = self._retry, None
        await cancel_and_wait(retry)

    def require(self) -> None:
        """503 for a request that needs the database before the gate has opened."""
        if not self.is_open:
            raise ServiceUnavailable(f"database unavailable ({self.problem}); try again shortly")

    async def probe(self) -> str:
        """Whether the database serves now: "ok" or what is wrong."""
        if not self.is_open:
            return self.problem
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            return f"unreachable ({type(exc).__name__})"
        return "ok"

    async def _check(self) -> None:
        async with asyncio.timeout(SCHEMA_CHECK_TIMEOUT_SECONDS):
            await ensure_at_head(self._engine)
        self.is_open = True
        self.problem = ""

    async def _keep_checking(self) -> None:
        delay = RETRY_FIRST_DELAY_SECONDS
        while not self.is_open:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_DELAY_SECONDS)
            try:
                await self._check()
            except SchemaNotAtHead as exc:
                # Reached at last, but behind: stay closed until someone migrates.
                self._note_problem("schema behind; run `gochat migrate`", exc)
            except Exception as exc:
                self._note_problem(f"unreachable ({type(exc).__name__})", exc)
        logger.info("database reachable and at the latest schema; serving")

    def _note_problem(self, problem: str, exc: Exception) -> None:
        if problem != self.problem:  # once per change, not once per attempt
            logger.warning("database %s: %s; retrying in the background", problem, exc)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[Dependency, str]  # "ok" or what is wrong, short enough for a dashboard


async def check_readiness(database: DatabaseGate, redis: Redis | None) -> Readiness:
    """Each dependency asked now, at once, each within `CHECK_TIMEOUT_SECONDS`."""
    probes: dict[Dependency, asyncio.Task[str]] = {}
    async with asyncio.TaskGroup() as group:
        probes["database"] = group.create_task(database.probe())
        if redis is not None:
            probes["redis"] = group.create_task(_probe_redis(redis))
    checks = {name: task.result() for name, task in probes.items()}
    return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)


async def _probe_redis(redis: Redis) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await redis.ping()
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"


# asyncpg's words for "the server is away": starting up, shutting down, connection lost.
_POSTGRES_AWAY = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.TooManyConnectionsError,
)


def outage_of(exc: BaseException) -> Dependency | None:
    """Which dependency an exception says is away, or None for an ordinary error.

    A refused connection surfaces from asyncpg as a bare `OSError`; a server that is starting
    or stopping, or a connection lost mid-query, as a `DBAPIError` caused by one of
    `_POSTGRES_AWAY`; an exhausted pool as its timeout; SQLite's lock wait as an
    `OperationalError`.
    """
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "redis"
    if isinstance(exc, PoolTimeoutError | OSError | OperationalError):
        return "database"
    if isinstance(exc, DBAPIError):
        cause = exc.orig.__cause__ if exc.orig is not None else None
        if exc.connection_invalidated or isinstance(cause, _POSTGRES_AWAY):
            return "database"
    return None


async def _outage_response(connection: HTTPConnection, exc: Exception) -> JSONResponse | None:
    """503 with `Retry-After`, for a request and a websocket handshake alike (a websocket has
    no method; it is answered before the upgrade)."""
    dependency = outage_of(exc)
    if dependency is None:
        raise exc  # not an outage: the request-id middleware logs it and answers 500
    logger.warning(
        "%s unavailable during %s %s: %s",
        dependency,
        connection.scope.get("method", "websocket"),
        connection.url.path,
        exc,
    )
    failure = ServiceUnavailable(f"{dependency} unavailable; try again shortly")
    if isinstance(connection, WebSocket):
        await refuse_websocket(connection, failure)
        return None
    return JSONResponse({"detail": failure.detail}, status_code=503, headers=failure.headers)


def install_outage_handling(app: FastAPI) -> None:
    # One handler for both kinds of connection; Starlette types them as two kinds of handler.
    handler = cast(ExceptionHandler, _outage_response)
    for error in (DBAPIError, PoolTimeoutError, OSError, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(error, handler)
