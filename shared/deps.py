"""FastAPI dependencies every service uses, declared once as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from shared.database import unit_of_work
from shared.errors import Forbidden, Unauthorized
from shared.runtime import Runtime
from shared.sessions import SessionUser, find_live_session_user
from shared.tokens import InvalidToken

AUTH_COOKIE = "auth_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_runtime(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_db(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed before the response is sent, or rolled back.

    503 while the database gate is closed (the database has not been reached yet)."""
    runtime.database.require()
    async with unit_of_work(runtime.sessionmaker) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]


def token_from(connection: HTTPConnection) -> tuple[str | None, bool]:
    """The bearer token and whether it came from the cookie (header wins over cookie)."""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), False
        return None, False
    cookie = connection.cookies.get(AUTH_COOKIE)
    return (cookie, True) if cookie else (None, False)


async def authenticate(runtime: Runtime, db: AsyncSession, token: str | None) -> SessionUser:
    """Signature, expiry, issuer and audience, then the session row: any failure is 401."""
    if not token:
        raise Unauthorized("not authenticated")
    try:
        claims = runtime.tokens.decode(token)
    except InvalidToken:
        raise Unauthorized("invalid or expired token") from None
    user = await find_live_session_user(db, session_id=claims.session_id, user_id=claims.user_id)
    if user is None:
        raise Unauthorized("session has ended; log in again")
    return user


def origin_allowed(runtime: Runtime, origin: str | None) -> bool:
    """No Origin header (a non-browser client) is allowed; a browser's must be listed."""
    return origin is None or origin.rstrip("/") in runtime.settings.allowed_origins


async def current_user(request: Request, runtime: RuntimeDep, db: DbSession) -> SessionUser:
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
