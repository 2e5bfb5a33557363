"""FastAPI dependencies every service uses, declared once as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from shared.authentication import (
    AUTH_COOKIE,
    origin_allowed,
    session_user,
    token_from,
    verified_claims,
)
from shared.database import unit_of_work
from shared.errors import Forbidden
from shared.people import publish_committed
from shared.runtime import Runtime
from shared.sessions import SessionUser
from shared.tokens import TokenClaims

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


async def _runtime_dependency(connection: HTTPConnection) -> Runtime:
    """`get_runtime` as a dependency: FastAPI runs a plain `def` dependency in a worker
    thread, which cost more than a tenth of a small request's CPU."""
    return get_runtime(connection)


RuntimeDep = Annotated[Runtime, Depends(_runtime_dependency)]


# `app.state` flag of a service whose GET, HEAD and OPTIONS requests only read
# (`build_service_app(reads_outside_transactions=True)`).
READS_OUTSIDE_TRANSACTIONS = "reads_outside_transactions"


async def get_db(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed before the response is sent, or rolled back;
    the live events its service functions queued are published after the commit. A
    safe-method request of a service that only reads in them runs without a transaction
    (`shared.database.create_read_sessionmaker`).

    503 while the database gate is closed (the database has not been reached yet)."""
    reads = request.method in SAFE_METHODS and getattr(
        request.app.state, READS_OUTSIDE_TRANSACTIONS, False
    )
    maker = runtime.read_sessionmaker if reads else runtime.sessionmaker
    async for session in _unit_of_work(runtime, maker):
        yield session


async def get_statement_db(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """`get_db` for an endpoint whose service writes in one statement on PostgreSQL, where
    each statement is its own transaction (no BEGIN and COMMIT round trips); on SQLite an
    ordinary unit of work (`shared.database.create_statement_sessionmaker`)."""
    async for session in _unit_of_work(runtime, runtime.statement_sessionmaker):
        yield session


async def _unit_of_work(
    runtime: Runtime, maker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[AsyncSession]:
    runtime.database.require()
    async with unit_of_work(maker) as session:
        yield session
    await publish_committed(runtime.broker, runtime.settings.redis_namespace, session)


StatementDb = Annotated[AsyncSession, Depends(get_statement_db, scope="function")]
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]


# Declared for the OpenAPI document (each protected operation lists both schemes); the token
# itself is read by `token_from`, which the websocket handshake shares.
_BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer <access_token>`")
_COOKIE = APIKeyCookie(
    name=AUTH_COOKIE,
    auto_error=False,
    description="the HttpOnly cookie `/auth/register` and `/auth/login` set",
)


async def current_claims(
    request: Request,
    runtime: RuntimeDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
    _cookie: Annotated[str | None, Security(_COOKIE)],
) -> TokenClaims:
    """The request's verified token, its session not yet checked: for a write whose one
    statement checks the session itself (401 when it has ended); `current_user` otherwise."""
    token, from_cookie = token_from(request)
    claims = verified_claims(runtime, token)
    # A cookie rides along on cross-site requests; SameSite=Lax stops most of them, and this
    # stops the rest of the state-changing ones.
    if (
        from_cookie
        and request.method not in SAFE_METHODS
        and not origin_allowed(runtime, request.headers.get("origin"))
    ):
        raise Forbidden("origin not allowed")
    return claims


CurrentClaims = Annotated[TokenClaims, Depends(current_claims, scope="function")]


async def current_user(db: DbSession, claims: CurrentClaims) -> SessionUser:
    """The database first: while it is away or behind, any request is 503, whatever its
    token."""
    return await session_user(db, claims)


CurrentUser = Annotated[SessionUser, Depends(current_user, scope="function")]
