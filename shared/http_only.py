"""The base of pure-ASGI middlewares that act on HTTP requests only."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpOnlyMiddleware:
    """Hands anything but HTTP (a websocket) straight to the inner app, without awaiting it
    in a coroutine of its own: such a frame would live as long as each socket (a few hundred
    bytes per middleware, times 10,000 sockets). Subclasses implement `http`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
