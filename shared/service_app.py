"""The frame every service app is built in: lifespan-owned runtime and supervisor, errors,
liveness at `/`, readiness at `/readyz`, Prometheus metrics at `/metrics`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    nullcontext,
)
from typing import Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.availability import check_readiness, install_outage_handling
from shared.body_limit import BodyLimitMiddleware
from shared.deps import READS_OUTSIDE_TRANSACTIONS, RuntimeDep
from shared.errors import install_error_handling
from shared.metrics import HttpMetricsMiddleware, ServiceMetrics
from shared.openapi import install_exact_openapi
from shared.pauses import PauseMonitor
from shared.runtime import Runtime
from shared.settings import Settings
from shared.supervision import StopProcess, Supervisor, stop_this_process

ServiceName = Literal["auth", "user", "ws"]
# Work a service runs for its lifetime (the ws hub), started after the runtime is ready; its
# core tasks report an early end to `app.state.supervisor`.
ServiceLifespan = Callable[[FastAPI, Runtime], AbstractAsyncContextManager[None]]


class Liveness(BaseModel):
    service: ServiceName
    status: Literal["ok"]


class ReadinessReport(BaseModel):
    service: ServiceName
    status: Literal["ready", "unavailable"]
    # "database" and, when configured, "redis": "ok" or what is wrong with it; and any core
    # task that ended early, by name (the process is stopping then).
    checks: dict[str, str]


def docs_page(settings: Settings, path: str) -> str | None:
    """`/docs` and `/redoc` in development only: their pages load Swagger UI and ReDoc from a
    public CDN, which must not run script on a deployment's origin (where the auth cookie
    lives). `/openapi.json`, the contract itself, is served everywhere."""
    return path if settings.env == "development" else None


def build_service_app(
    *,
    name: ServiceName,
    settings: Settings,
    routers: Sequence[APIRouter],
    mint_tokens: bool = False,
    service_lifespan: ServiceLifespan | None = None,
    own_runtime: bool = True,
    stop_process: StopProcess = stop_this_process,
    reads_outside_transactions: bool = False,
    app_class: type[FastAPI] = FastAPI,
) -> FastAPI:
    """A service app that opens its own runtime for its lifetime, or, with
    `own_runtime=False`, uses the one its host put in `app.state.runtime` before entering its
    lifespan (the all-in-one dev server shares one runtime between the three apps).
    `stop_process` is what the supervisor does when a core task ends (tests pass their own).
    `reads_outside_transactions`: the service's GET, HEAD and OPTIONS requests never write,
    so they may run without a transaction (see `shared.deps.get_db`). `app_class`: a FastAPI
    subclass to build (the chat service serves its sockets below the middleware stack)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened: AbstractAsyncContextManager[Runtime] = (
            Runtime.open(settings, mint_tokens=mint_tokens)
            if own_runtime
            else nullcontext(app.state.runtime)
        )
        supervisor = app.state.supervisor = Supervisor(stop=stop_process)
        async with AsyncExitStack() as stack:
            rt = await stack.enter_async_context(opened)
            app.state.runtime = rt
            if service_lifespan is not None:
                await stack.enter_async_context(service_lifespan(app, rt))
                # Entered last, so closed first: tasks ended by the shutdown are no failure.
                stack.callback(supervisor.close)
            await stack.enter_async_context(
                PauseMonitor(
                    app.state.metrics.pauses,
                    population=getattr(app.state, "long_lived_population", None),
                )
            )
            yield

    app = app_class(
        title=f"GoChat {name} service",
        lifespan=lifespan,
        docs_url=docs_page(settings, "/docs"),
        redoc_url=docs_page(settings, "/redoc"),
    )
    app.state.settings = settings
    setattr(app.state, READS_OUTSIDE_TRANSACTIONS, reads_outside_transactions)
    app.state.metrics = metrics = ServiceMetrics()
    # Innermost of the three, so a 413 still gets its request id and is counted.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_error_handling(app)
    install_outage_handling(app)
    install_exact_openapi(app)
    # Added last, so outermost: it sees the final status of every request.
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics.http)

    @app.get("/", response_model=Liveness, tags=["health"])
    async def liveness() -> Liveness:
        """The process is up (it may still be waiting for its database: see `/readyz`)."""
        return Liveness(service=name, status="ok")

    @app.get(
        "/readyz",
        response_model=ReadinessReport,
        responses={503: {"model": ReadinessReport}},
        tags=["health"],
    )
    async def readiness(runtime: RuntimeDep) -> JSONResponse:
        """Ready to serve: the database (and Redis, when configured) answered just now, and
        no core task has ended."""
        found = await check_readiness(runtime.database, runtime.redis)
        failures: dict[str, str] = app.state.supervisor.failures
        ready = found.ready and not failures
        report = ReadinessReport(
            service=name,
            status="ready" if ready else "unavailable",
            checks={**found.checks, **failures},
        )
        return JSONResponse(report.model_dump(), status_code=200 if ready else 503)

    app.add_route("/metrics", metrics.endpoint, include_in_schema=False)

    for router in routers:
        app.include_router(router)
    return app
