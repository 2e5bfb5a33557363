from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from auth_service.router import router
from shared.passwords import PasswordHasher
from shared.runtime import Runtime
from shared.service_app import build_service_app
from shared.settings import Settings, load_settings


@asynccontextmanager
async def auth_lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    """The password hasher's threads live as long as the auth service, the only one that
    hashes."""
    hasher = PasswordHasher(runtime.settings)
    app.state.passwords = hasher
    try:
        yield
    finally:
        hasher.close()


def create_app(settings: Settings | None = None, *, own_runtime: bool = True) -> FastAPI:
    return build_service_app(
        name="auth",
        settings=settings or load_settings(),
        own_runtime=own_runtime,
        routers=[router],
        mint_tokens=True,
        service_lifespan=auth_lifespan,
    )
