"""FastAPI dependencies every service uses, declared once as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from shared.authentication import authenticate, origin_allowed, token_from
from shared.database import unit_of_work
from shared.errors import Forbidden
from shared.runtime import Runtime
from shared.sessions import SessionUser

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
