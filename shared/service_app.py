"""The frame every service app is built in: lifespan-owned runtime, errors, liveness."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Literal

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from shared.errors import install_error_handling
from shared.runtime import Runtime
from shared.settings import Settings

ServiceName = Literal["auth", "user", "ws"]
# Work a service runs for its lifetime (the ws hub), started after the runtime is ready.
ServiceLifespan = Callable[[FastAPI, Runtime], AbstractAsyncContextManager[None]]


class Liveness(BaseModel):
    service: ServiceName
    status: Literal["ok"]


def build_service_app(
    *,
    name: ServiceName,
    settings: Settings,
    routers: Sequence[APIRouter],
    mint_tokens: bool = False,
    hash_passwords: bool = False,
    service_lifespan: ServiceLifespan | None = None,
    own_runtime: bool = True,
) -> FastAPI:
    """A service app that opens its own runtime for its lifetime, or, with
    `own_runtime=False`, uses the one its host put in `app.state.runtime` before entering its
    lifespan (the all-in-one dev server shares one runtime between the three apps)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened: AbstractAsyncContextManager[Runtime] = (
            Runtime.open(settings, mint_tokens=mint_tokens, hash_passwords=hash_passwords)
            if own_runtime
            else nullcontext(app.state.runtime)
        )
        async with opened as rt:
            app.state.runtime = rt
            if service_lifespan is None:
                yield
            else:
                async with service_lifespan(app, rt):
                    yield

    app = FastAPI(
        title=f"GoChat {name} service",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handling(app)

    @app.get("/", response_model=Liveness, tags=["health"])
    async def liveness() -> Liveness:
        return Liveness(service=name, status="ok")

    for router in routers:
        app.include_router(router)
    return app
