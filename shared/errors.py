"""One error base class, one JSON shape (`{"detail": ...}`), and the request-id boundary.

Service functions raise `GoChatError` subclasses and never touch HTTP; `install_error_handling`
maps them, validation errors and anything unexpected to JSON, so no response is ever HTML or
a traceback.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from urllib.parse import urlsplit, urlunsplit

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from shared.http_only import HttpOnlyMiddleware

logger = logging.getLogger("gochat.errors")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
# A 422 lists at most this many problems: a body of 500,000 bad keys must not earn an answer
# of 500,000 errors (megabytes to build and send).
MAX_VALIDATION_ERRORS = 20
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
DENIAL_EXTENSION = "websocket.http.response"  # ASGI: the server can answer a handshake
CLOSE_POLICY_VIOLATION = 1008


class GoChatError(Exception):
    status_code = 400
    default_detail = "bad request"

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = dict(headers or {})
        super().__init__(self.detail)


class BadRequest(GoChatError):
    status_code = 400


class Unauthorized(GoChatError):
    status_code = 401
    default_detail = "not authenticated"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(GoChatError):
    status_code = 403
    default_detail = "forbidden"


class NotFound(GoChatError):
    status_code = 404
    default_detail = "not found"


class Conflict(GoChatError):
    status_code = 409
    default_detail = "conflict"


class TooManyRequests(GoChatError):
    status_code = 429
    default_detail = "too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceBusy(GoChatError):
    status_code = 503
    default_detail = "service busy"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class ServiceUnavailable(GoChatError):
    """A dependency (the database, Redis) is away; the client may retry shortly."""

    status_code = 503
    default_detail = "service unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "2"})


def current_request_id() -> str | None:
    return request_id_var.get()


async def _gochat_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GoChatError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape, without echoing the input back (it may be a password)."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
        for e in exc.errors()[:MAX_VALIDATION_ERRORS]
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (404, 405), with a 405's `Allow` naming every method the path
    has: Starlette names only those of the first route that matched the path."""
    assert isinstance(exc, StarletteHTTPException)
    allowed = _allowed_methods(request) if exc.status_code == 405 else []
    if allowed:
        exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
    return await http_exception_handler(request, exc)


def _allowed_methods(request: Request) -> list[str]:
    """Each method some route of this app fully matches for the path, asked through the
    routes' own `matches` (so routers included in routers count). Routes that match any
    method (a mount, a bare ASGI app) answer their own 405s and are left out."""
    scope = request.scope
    routes = [
        route
        for route in request.app.router.routes
        if route.matches({**scope, "method": "NO-SUCH-METHOD"})[0] is not Match.FULL
    ]
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def refuse_websocket(websocket: WebSocket, exc: GoChatError) -> None:
    """Answers a websocket handshake, before the upgrade, with `exc`'s status and JSON body.
    A server without ASGI's denial-response extension can only close (its clients see 403)."""
    if DENIAL_EXTENSION in websocket.scope.get("extensions", {}):
        response = JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
        await websocket.send_denial_response(response)
    else:
        await websocket.close(code=CLOSE_POLICY_VIOLATION, reason=exc.detail)


def install_error_handling(app: FastAPI) -> None:
    app.add_exception_handler(GoChatError, _gochat_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(RelativeRedirectMiddleware)


class RequestIdMiddleware:
    """Gives every request an id (kept from `X-Request-ID` when sane), echoes it, and turns an
    unexpected exception into `500 {"detail": "internal error"}` with the traceback logged
    under that id. Pure ASGI so that websockets pass through untouched.

    Nested (a service mounted in the all-in-one dev app), it keeps the outer app's id and
    lets the outer one echo it, but still answers the error itself: otherwise the mounted
    app's own Starlette error middleware would answer first, in plain text.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        outer_id = request_id_var.get()
        request_id = request_id_for(scope)
        token = request_id_var.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if outer_id is None:
                    headers = list(message.get("headers", []))
                    headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                    message = {**message, "headers": headers}
            elif message["type"] == "websocket.accept":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error", extra={"request_id": request_id})
            if scope["type"] == "http" and not started:
                response = JSONResponse({"detail": "internal error"}, status_code=500)
                await response(scope, receive, send_with_id)
            elif scope["type"] == "websocket" and not started:
                await send({"type": "websocket.close", "code": 1011, "reason": ""})
        finally:
            request_id_var.reset(token)


def request_id_for(scope: Scope) -> str:
    """The id a request runs under: an enclosing app's, the client's `X-Request-ID` when
    sane, or a new one."""
    return request_id_var.get() or _incoming_request_id(scope) or secrets.token_hex(8)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            return text if _SAFE_REQUEST_ID.match(text) else None
    return None


class RelativeRedirectMiddleware(HttpOnlyMiddleware):
    """Turns a redirect to this request's own host into a path-only `Location`.

    Starlette's trailing-slash redirect (307) builds an absolute URL from the `Host` header,
    which the client chose: `Host: evil.example` made it send the browser there. A relative
    `Location` always stays on the host the client really reached.
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def relative_send(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                headers = MutableHeaders(scope=message)
                location = urlsplit(headers.get("location", ""))
                if location.netloc and location.netloc == _host(scope):
                    headers["location"] = urlunsplit(
                        ("", "", location.path or "/", location.query, "")
                    )
            await send(message)

        await self.app(scope, receive, relative_send)


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            host: str = value.decode("latin-1")
            return host
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else ""
