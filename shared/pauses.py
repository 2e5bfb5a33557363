"""Event-loop stalls and garbage-collection pauses, measured for `/metrics`.

With thousands of sockets open, a full collection of CPython's cyclic GC walks every tracked
object and stalls the loop for as long as it takes; a stall shows up as every client's
latency at once. These two histograms say how long the loop was late and which collections
caused it. Objects alive once the service has started (modules, settings, the app) are moved
out of the collector's sight with `gc.freeze()`, so full collections walk only what was
made since; so are, after every FREEZE_GROWTH new ones, the objects of long-lived things the
service counts (the chat service: its sockets), so a crowd of connections does not make
every later full collection walk all of them. A frozen object that dies is still freed by
its reference count; only a reference cycle through frozen objects waits until the crowd has
halved, when everything is handed back to the collector.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.tasks import cancel_and_wait

PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_PROBE_SECONDS = 0.1
FREEZE_GROWTH = 500  # long-lived things (sockets) made since the last freeze


class PauseMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.loop_lag = Histogram(
            "gochat_event_loop_lag_seconds",
            f"How late the event loop woke a task that slept {LAG_PROBE_SECONDS} s.",
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.gc_pause = Histogram(
            "gochat_gc_pause_seconds",
            "Time each cyclic garbage collection held the interpreter, by generation.",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self.gc_freezes = Counter(
            "gochat_gc_freezes",
            "Times the objects alive were moved out of the collector's sight after a crowd of "
            "new connections.",
            registry=registry,
        )


class PauseMonitor:
    """Owned by a service's lifespan: a probe task for the loop's lag, a gc callback for the
    collections' pauses, and the freeze of what start-up left alive (undone on exit, so a
    process that builds many apps, like the tests, does not keep their garbage forever)."""

    def __init__(
        self,
        metrics: PauseMetrics,
        *,
        freeze: bool = True,
        population: Callable[[], int] | None = None,
        freeze_growth: int = FREEZE_GROWTH,
    ) -> None:
        """`population`: how many long-lived things (sockets) the service holds now; their
        objects are frozen after every `freeze_growth` new ones (with `freeze` on)."""
        self._metrics = metrics
        self._freeze = freeze
        self._population = population if freeze else None
        self._freeze_growth = freeze_growth
        self._frozen_population = 0
        self._gc_started = 0.0
        self._probe: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PauseMonitor:
        gc.callbacks.append(self._on_gc)
        if self._freeze:
            gc.collect()
            gc.freeze()
        self._probe = asyncio.create_task(self._measure_lag(), name="loop-lag-probe")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._probe is not None:
            await cancel_and_wait(self._probe)
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        if self._freeze:
            gc.unfreeze()

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # Collections never overlap (they hold the GIL), so one start time is enough.
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            paused = time.perf_counter() - self._gc_started
            self._metrics.gc_pause.labels(str(info["generation"])).observe(paused)

    async def _measure_lag(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            late = time.perf_counter() - started - LAG_PROBE_SECONDS
            self._metrics.loop_lag.observe(max(late, 0.0))
            if self._population is not None:
                self.follow_population(self._population())

    def follow_population(self, now: int) -> None:
        """Freezes what is alive once `freeze_growth` long-lived things were added since the
        last freeze (after a young collection, so their short-lived garbage is not kept).
        Once they have halved, one full collection over everything finds the cycles left by
        those that went, and what is still alive is frozen again: one pause, over half the
        crowd, instead of one at every full collection."""
        if now >= self._frozen_population + self._freeze_growth:
            gc.collect(1)
            gc.freeze()
            self._frozen_population = now
            self._metrics.gc_freezes.inc()
        elif now < self._frozen_population // 2:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._frozen_population = now
            self._metrics.gc_freezes.inc()
