"""The chat service's own Prometheus figures, registered in the ws app's registry."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


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
        self._broker_events: Callable[[], float] = lambda: 0
        self._broker_events_unwanted: Callable[[], float] = lambda: 0
        registry.register(
            _ReadCounter(
                "gochat_broker_events",
                "Broker messages this instance received on its room channels (stored "
                "batches, presence changes, typing); it subscribes only to rooms with a "
                "local interest, so this grows with its own rooms' traffic, not the "
                "cluster's.",
                lambda: self._broker_events(),
            )
        )
        registry.register(
            _ReadCounter(
                "gochat_broker_events_unwanted",
                "Of gochat_broker_events, those for a room with no local interest any more "
                "(arrived just after its last member left): dropped undecoded; ~0.",
                lambda: self._broker_events_unwanted(),
            )
        )
        self.rooms_subscribed = Gauge(
            "gochat_ws_rooms_subscribed",
            "Room channels this instance is subscribed to (rooms with a local interest).",
            registry=registry,
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

    def follow(
        self,
        *,
        connections: Callable[[], float],
        frames_sent: Callable[[], float],
        broker_events: Callable[[], float] = lambda: 0,
        broker_events_unwanted: Callable[[], float] = lambda: 0,
        rooms_subscribed: Callable[[], float] = lambda: 0,
    ) -> None:
        """Read these figures from their owners at each scrape."""
        self.connections_open.set_function(connections)
        self._frames_sent = frames_sent
        self._broker_events = broker_events
        self._broker_events_unwanted = broker_events_unwanted
        self.rooms_subscribed.set_function(rooms_subscribed)


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
