"""Prometheus metrics, served at `/metrics` by every service.

Every service app has its own registry rather than the process-wide default: the all-in-one
dev server runs three apps in one process and the tests build many, and a name registered
twice in one registry is an error. In production each process is one service, so its
registry is the process's.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http_only import HttpOnlyMiddleware
from shared.pauses import PauseMetrics

UNMATCHED_ROUTE = "unmatched"  # one label for every path no route knows, to bound cardinality


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "gochat_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "gochat_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ["route", "method"],
            registry=registry,
        )
        self.in_progress = Gauge(
            "gochat_http_requests_in_progress",
            "HTTP requests being handled now.",
            registry=registry,
        )


class ServiceMetrics:
    """One service app's registry, with the process's figures and the HTTP figures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.http = HttpMetrics(self.registry)
        self.pauses = PauseMetrics(self.registry)

    async def endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class HttpMetricsMiddleware(HttpOnlyMiddleware):
    """Counts and times every HTTP request by its route template (`/users/{id}`, never the
    raw path). Pure ASGI so websockets pass through untouched; outermost, so it sees the
    status of errors the inner layers turned into responses."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            self.metrics.in_progress.dec()
            # The router leaves the route it matched in the scope.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.duration.labels(route, method).observe(time.perf_counter() - started)
