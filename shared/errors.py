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

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

logger = logging.getLogger("gochat.errors")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
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
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


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
    app.add_middleware(RequestIdMiddleware)


class RequestIdMiddleware:
    """Gives every request an id (kept from `X-Request-ID` when sane), echoes it, and turns an
    unexpected exception into `500 {"detail": "internal error"}` with the traceback logged
    under that id. Pure ASGI so that websockets pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or request_id_var.get() is not None:
            # Not a request, or an outer app (the all-in-one dev server) already did this.
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or secrets.token_hex(8)
        token = request_id_var.set(request_id)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
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
                response = JSONResponse(
                    {"detail": "internal error"},
                    status_code=500,
                    headers={REQUEST_ID_HEADER: request_id},
                )
                await response(scope, receive, send)
            elif scope["type"] == "websocket" and not started:
                await send({"type": "websocket.close", "code": 1011, "reason": ""})
        finally:
            request_id_var.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            return text if _SAFE_REQUEST_ID.match(text) else None
    return None
