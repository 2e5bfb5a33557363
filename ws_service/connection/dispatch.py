"""The chat's websockets served below FastAPI's middleware stack and router.

A chat socket lives for hours, and every coroutine frame suspended under it lives as long,
10,000 times over. Through the whole stack a socket waited under ~20 frames (Starlette's
error and exception middlewares, FastAPI's telemetry, body-limit and exit-stack middlewares,
the request-id middleware, the router and the route's wrappers; bench/TUNING.md has the
measurement). `SocketFirstApp` hands a websocket scope that one of its `WebSocketRoute`s
matches straight to that route's endpoint and does itself what those layers did for a
websocket: the request id the logs carry, the app's exception handlers (an outage before
the upgrade is still a 503, a `GoChatError` its own status) and, for anything unexpected, the
traceback logged and the handshake closed. HTTP, lifespan and unmatched websockets go
through FastAPI unchanged. The endpoints keep every check of their own (Origin, token,
caps, handshake rate); nothing they did moved here.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.routing import Match, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState

from shared.errors import request_id_for, request_id_var

logger = logging.getLogger("gochat.errors")

CLOSE_INTERNAL_ERROR = 1011


class SocketFirstApp(FastAPI):
    """A FastAPI app whose function websocket routes skip its middleware stack and router."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._socket_routes: list[WebSocketRoute] = []

    def serve_sockets_directly(self, *routers: APIRouter) -> None:
        """The function websocket routes of `routers` (included in this app, unprefixed)
        are served by `__call__` itself; they stay in the router for `url_path_for`."""
        self._socket_routes += [
            route
            for router in routers
            for route in router.routes
            if isinstance(route, WebSocketRoute) and inspect.isfunction(route.endpoint)
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._socket_route(scope) if scope["type"] == "websocket" else None
        if route is None:
            await super().__call__(scope, receive, send)
            return
        # What Starlette's app and router would have put in the scope.
        scope["app"] = self
        scope["router"] = self.router
        if self.root_path:
            scope["root_path"] = self.root_path
        websocket = WebSocket(scope, receive, send)
        token = request_id_var.set(request_id_for(scope))
        try:
            await route.endpoint(websocket)
        except Exception as exc:
            await self._socket_failed(websocket, exc)
        finally:
            request_id_var.reset(token)

    def _socket_route(self, scope: Scope) -> WebSocketRoute | None:
        """The route, with `endpoint` and `path_params` set in `scope`, or None."""
        for route in self._socket_routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                return route
        return None

    async def _socket_failed(self, websocket: WebSocket, exc: Exception) -> None:
        """As Starlette's exception middleware and our request-id middleware answer an
        exception that escaped a websocket endpoint (before the upgrade, in practice: after
        it the endpoints catch everything and close with 1011 themselves)."""
        try:
            handler = next(
                (h for c in type(exc).__mro__ if (h := self.exception_handlers.get(c))),
                None,
            )
            if handler is None:
                raise exc
            response = handler(websocket, exc)  # type: ignore[arg-type]  # as Starlette does
            if inspect.isawaitable(response):
                response = await response
            if response is not None:
                await response(websocket.scope, websocket.receive, websocket.send)
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id_var.get()})
            if websocket.application_state is WebSocketState.CONNECTING:
                await websocket.send(
                    {"type": "websocket.close", "code": CLOSE_INTERNAL_ERROR, "reason": ""}
                )
