"""Prometheus metrics, served at `/metrics` by every service.

Every service app has its own registry rather than the process-wide default: the all-in-one
dev server runs three apps in one process and the tests build many, and a name registered
twice in one registry is an error. In production each process is one service, so its
registry is the process's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class ChatMetrics:
    """The ws service's numbers. The ws app registers them in its own registry
    (`ChatMetrics(app.state.metrics.registry)`), its hub and socket handler update them.

    Open connections and frames sent are read from the hub when scraped (`follow`), so the
    fan-out path does no metrics work per member; the rest are counted per event, one lock
    each.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections_open = Gauge(
            "gochat_ws_connections_open",
            "Websocket connections in a room on this instance.",
            registry=registry,
        )
        self.messages_received = Counter(
            "gochat_ws_messages_received",
            "Chat messages this instance's clients sent that were taken for storing.",
            registry=registry,
        )
        self._frames_sent: Callable[[], float] = lambda: 0
        registry.register(
            _ReadCounter(
                "gochat_ws_messages_sent",
                "Frames (messages, joins, leaves) this instance handed to its clients, one "
                "per member.",
                lambda: self._frames_sent(),
            )
        )
        self.broadcast_seconds = Histogram(
            "gochat_ws_broadcast_seconds",
            "Time for the hub to hand one stored batch of messages to every member of the "
            "room on this instance (the frame is encoded once; no member is awaited).",
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
            registry=registry,
        )
        self.slow_client_disconnects = Counter(
            "gochat_ws_slow_client_disconnects",
            "Clients closed with 1013 because their outgoing queue stayed full.",
            registry=registry,
        )

    def follow(self, *, connections: Callable[[], float], frames_sent: Callable[[], float]) -> None:
        """Read the open connections and the frames sent from their owner at each scrape."""
        self.connections_open.set_function(connections)
        self._frames_sent = frames_sent


class _ReadCounter(Collector):
    """A counter its owner keeps as a plain integer; read when scraped."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name = name
        self._documentation = documentation
        self._read = read

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(self._name, self._documentation)]

    def collect(self) -> list[Metric]:
        return [CounterMetricFamily(self._name, self._documentation, value=self._read())]


class ServiceMetrics:
    """One service app's registry, with the process's figures and the HTTP figures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.http = HttpMetrics(self.registry)

    async def endpoint(self, _request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class HttpMetricsMiddleware:
    """Counts and times every HTTP request by its route template (`/users/{id}`, never the
    raw path). Pure ASGI so websockets pass through untouched; outermost, so it sees the
    status of errors the inner layers turned into responses."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
