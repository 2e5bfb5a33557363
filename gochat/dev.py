"""All three services in one process under /auth, /users and /chat, sharing one runtime, and
the web client at `/`.

This is what `make run` serves: one port, one SQLite file, nothing else to start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Mount

from auth_service.app import create_app as create_auth_app
from gochat.web import web_client_routes
from shared.errors import install_error_handling
from shared.runtime import Runtime
from shared.service_app import docs_urls
from shared.settings import Settings
from user_service.app import create_app as create_user_app
from ws_service.app import create_app as create_ws_app

MOUNTS = {"/auth": create_auth_app, "/users": create_user_app, "/chat": create_ws_app}


def create_dev_app(settings: Settings) -> FastAPI:
    services = {prefix: factory(settings, own_runtime=False) for prefix, factory in MOUNTS.items()}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            runtime = await stack.enter_async_context(Runtime.open(settings, mint_tokens=True))
            for service in services.values():
                service.state.runtime = runtime
                await stack.enter_async_context(service.router.lifespan_context(service))
            yield

    app = FastAPI(
        title="GoChat (all services)",
        lifespan=lifespan,
        **docs_urls(settings),
        routes=[
            *(Mount(prefix, app=service) for prefix, service in services.items()),
            *web_client_routes(),
        ],
    )
    install_error_handling(app)
    return app
