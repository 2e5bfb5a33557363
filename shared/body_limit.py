"""A bound on request bodies, in the app itself: the gateway's limit protects only deployments
behind it, not `gochat dev --host 0.0.0.0` or a bare `gochat serve`.

A declared `Content-Length` over the limit is answered 413 before the app reads a byte; a body
without one (chunked) is counted as it arrives and refused as soon as it goes over, so no
more than the limit is ever held in memory or handed to the JSON parser.

Not FastAPI's own `max_body_size`: for a declared length over the limit it answers
`text/plain "Content Too Large"`, and every error here is JSON.
"""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http_only import HttpOnlyMiddleware


class BodyTooLarge(HTTPException):
    """Raised from `receive`; FastAPI lets an `HTTPException` from the body through, and its
    handler answers with the usual `{"detail": ...}`."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class BodyLimitMiddleware(HttpOnlyMiddleware):
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(self.max_bytes, scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:  # read outside a route (a middleware): answer it here
            if started:
                raise
            await _refuse(self.max_bytes, scope, receive, send)


async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    # The rest of the body is never handed to the app: uvicorn discards what still arrives
    # once the response is complete (so a client that sends all before reading gets the 413).
    error = BodyTooLarge(limit)
    await JSONResponse({"detail": error.detail}, status_code=error.status_code)(
        scope, receive, send
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
