"""FastAPI dependencies every service uses, declared once as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from shared.authentication import AUTH_COOKIE, authenticate, origin_allowed, token_from
from shared.database import unit_of_work
from shared.errors import Forbidden
from shared.people import publish_committed
from shared.runtime import Runtime
from shared.sessions import SessionUser

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_db(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed before the response is sent, or rolled back;
    the live events its service functions queued are published after the commit.

    503 while the database gate is closed (the database has not been reached yet)."""
    runtime.database.require()
    async with unit_of_work(runtime.sessionmaker) as session:
        yield session
    await publish_committed(runtime.broker, runtime.settings.redis_namespace, session)


DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]


# Declared for the OpenAPI document (each protected operation lists both schemes); the token
# itself is read by `token_from`, which the websocket handshake shares.
_BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer <access_token>`")
_COOKIE = APIKeyCookie(
    name=AUTH_COOKIE,
    auto_error=False,
    description="the HttpOnly cookie `/auth/register` and `/auth/login` set",
)


async def current_user(
    request: Request,
    runtime: RuntimeDep,
    db: DbSession,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
    _cookie: Annotated[str | None, Security(_COOKIE)],
) -> SessionUser:
    token, from_cookie = token_from(request)
    user = await authenticate(runtime, db, token)
    # A cookie rides along on cross-site requests; SameSite=Lax stops most of them, and this
    # stops the rest of the state-changing ones.
    if (
        from_cookie
        and request.method not in SAFE_METHODS
        and not origin_allowed(runtime, request.headers.get("origin"))
    ):
        raise Forbidden("origin not allowed")
    return user


CurrentUser = Annotated[SessionUser, Depends(current_user, scope="function")]
