from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.runtime import Runtime
from shared.service_app import build_service_app
from shared.settings import Settings, load_settings
from shared.supervision import StopProcess, Supervisor, stop_this_process
from ws_service.chat import open_chat
from ws_service.connection.dispatch import SocketFirstApp
from ws_service.connection.endpoint import router as connection_router
from ws_service.events.endpoint import router as events_router
from ws_service.messages.router import router as messages_router
from ws_service.metrics import ChatMetrics
from ws_service.rooms.members_router import router as members_router
from ws_service.rooms.router import router as rooms_router


@asynccontextmanager
async def chat_lifespan(app: FastAPI, runtime: Runtime) -> AsyncIterator[None]:
    supervisor: Supervisor = app.state.supervisor
    async with open_chat(runtime, metrics=app.state.chat_metrics, supervisor=supervisor) as chat:
        app.state.chat = chat
        # Sockets live long: their objects are frozen out of the collector's sight in crowds.
        app.state.long_lived_population = lambda: chat.hub.connections + chat.events.people
        yield


def create_app(
    settings: Settings | None = None,
    *,
    own_runtime: bool = True,
    stop_process: StopProcess = stop_this_process,
) -> FastAPI:
    app = build_service_app(
        name="ws",
        settings=settings or load_settings(),
        routers=[rooms_router, members_router, messages_router, connection_router, events_router],
        own_runtime=own_runtime,
        service_lifespan=chat_lifespan,
        stop_process=stop_process,
        app_class=SocketFirstApp,  # `/ws/...` sockets skip the middleware stack and router
    )
    assert isinstance(app, SocketFirstApp)
    app.serve_sockets_directly(connection_router, events_router)
    app.state.chat_metrics = ChatMetrics(app.state.metrics.registry)  # served at /metrics
    return app
