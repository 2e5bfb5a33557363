"""Event-loop stalls and garbage-collection pauses, measured for `/metrics`, and kept short.

With thousands of sockets open, a full collection of CPython's cyclic GC walks every tracked
object and stalls the loop for as long as it takes (~0.8 s at 10,000 sockets here); a stall
shows up as every client's latency at once. These two histograms say how long the loop was
late and which collections caused it.

What keeps collections short is `gc.freeze()`, which moves every object alive out of the
collector's sight: what start-up left alive (modules, settings, the app); the survivors of
every full collection, right after it, so the next one walks only what was made since (a
crowd of sockets that opened and started chatting is walked once, not at every full
collection); and, after every FREEZE_GROWTH new long-lived things the service counts (the
chat service: its sockets), what they made. A frozen object that dies is still freed by its
reference count: a closed socket leaves no reference cycle (see
`ws_service.delivery.transport`), so freezing costs no memory there. What a cycle through
frozen objects holds waits for one full collection over everything, with the objects handed
back to the collector: once as many long-lived things have gone as half the most there were
since the last one (the crowd halved, or turned over), a single long pause instead of one at
every full collection. While a crowd is served, the young and middle generations are also
collected on a clock (CROWD_MIDDLE_EVERY): CPython's own trigger does not see a young
generation that grows while old objects die.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from shared.tasks import cancel_and_wait

PAUSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LAG_PROBE_SECONDS = 0.1
FREEZE_GROWTH = 500  # long-lived things (sockets) made since the last freeze
FULL_GENERATION = 2
# Pauses timed by the gc callback wait here for the probe (every LAG_PROBE_SECONDS) to put them
# in the histogram: far more than the collections of 0.1 s, even at a young one a millisecond.
UNRECORDED_PAUSES_MAX = 10_000
# While a crowd is served: a middle-generation collection after every 5 young ones instead of
# 10 (each walks half as much), and a full one considered after each of those (CPython still
# waits until what they promoted exceeds a quarter of what the last full one kept), so that
# each full collection walks a few seconds' survivors before they are frozen, not a crowd's
# first half-minute of chat (~200,000 objects, 0.2 s, at 10,000 sockets).
CROWD_THRESHOLDS = (700, 5, 1)
# While a crowd is served, the probe also collects the young generation at every tick and the
# middle one at every CROWD_MIDDLE_EVERY-th: CPython starts a young collection once
# allocations exceed deallocations by 700, and any object freed counts, old or frozen. With
# 10,000 sockets chatting, each message replaces its socket's in-flight objects (coroutines,
# futures, frames: ~19 of them) whose predecessors were old, so the count stood still while
# the young generation grew to ~190,000 objects: one collection every ~20 s of 85-110 ms.
CROWD_MIDDLE_EVERY = 5


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
            "new connections, or handed back to it for one collection after many had gone.",
            registry=registry,
        )


class PauseMonitor:
    """Owned by a service's lifespan: a probe task for the loop's lag, a gc callback for the
    collections' pauses, and the freezes (undone on exit, with the collector's thresholds, so
    a process that builds many apps, like the tests, does not keep their garbage forever)."""

    def __init__(
        self,
        metrics: PauseMetrics,
        *,
        freeze: bool = True,
        population: Callable[[], int] | None = None,
        freeze_growth: int = FREEZE_GROWTH,
    ) -> None:
        """`population`: how many long-lived things (sockets) the service holds now; with it
        (and `freeze` on) their objects are frozen after every `freeze_growth` new ones and,
        while there are at least that many, the survivors of every full collection too.
        Without a crowd only start-up is frozen: freezing would catch requests in flight,
        whose cycles (a database session's) would wait for a collection that never comes,
        to save pauses that a few hundred sockets do not cause."""
        self._metrics = metrics
        self._freeze = freeze
        self._population = population if freeze else None
        self._freeze_growth = freeze_growth
        self._frozen_population = 0
        self._last_population = 0
        self._most_population = 0  # since the last full collection over everything
        self._departed = 0  # since then, as far as samples 0.1 s apart show
        self._serving_crowd = False
        self._ticks = 0
        self._thresholds = gc.get_threshold()
        self._gc_started = 0.0
        self._pauses = [metrics.gc_pause.labels(str(g)) for g in range(FULL_GENERATION + 1)]
        self._unrecorded: deque[tuple[int, float]] = deque(maxlen=UNRECORDED_PAUSES_MAX)
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
        self._record_pauses()
        self._serve_crowd(False)
        if self._freeze:
            gc.unfreeze()

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # Collections never overlap (they hold the GIL), so one start time is enough. No lock
        # is taken here: a collection can start in any thread while it holds one, and
        # prometheus_client's are not re-entrant (a /metrics render copies a labelled metric's
        # children under its lock; the collection that copy set off, observing into that
        # metric, would wait forever for it). The probe records the pauses instead.
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._unrecorded.append((info["generation"], time.perf_counter() - self._gc_started))
            if self._serving_crowd and info["generation"] == FULL_GENERATION:
                # Nothing is left in the younger generations after a full collection: this
                # freezes its survivors and nothing else.
                gc.freeze()

    async def _measure_lag(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            late = time.perf_counter() - started - LAG_PROBE_SECONDS
            self._metrics.loop_lag.observe(max(late, 0.0))
            if self._serving_crowd:
                self._ticks += 1
                gc.collect(1 if self._ticks % CROWD_MIDDLE_EVERY == 0 else 0)
            self._record_pauses()
            if self._population is not None:
                self.follow_population(self._population())

    def _record_pauses(self) -> None:
        while self._unrecorded:
            generation, paused = self._unrecorded.popleft()
            self._pauses[generation].observe(paused)

    def follow_population(self, now: int) -> None:
        """Freezes what is alive once `freeze_growth` long-lived things were added since the
        last freeze (after a young collection, so their short-lived garbage is not kept).
        Once as many have gone as half the most there were (and at least `freeze_growth`),
        one full collection over everything finds the cycles left by those that went, and
        what is still alive is frozen again."""
        self._departed += max(0, self._last_population - now)
        self._last_population = now
        self._most_population = max(self._most_population, now)
        if self._departed >= max(self._freeze_growth, self._most_population // 2):
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._frozen_population = self._most_population = now
            self._departed = 0
            self._metrics.gc_freezes.inc()
        elif now >= self._frozen_population + self._freeze_growth:
            gc.collect(1)
            gc.freeze()
            self._frozen_population = now
            self._metrics.gc_freezes.inc()
        elif now < self._frozen_population:
            self._frozen_population = now  # grown again from here, it is frozen again
        self._serve_crowd(now >= self._freeze_growth)

    def _serve_crowd(self, on: bool) -> None:
        if on == self._serving_crowd:
            return
        if on:
            self._thresholds = gc.get_threshold()
            gc.set_threshold(*CROWD_THRESHOLDS)
        else:
            gc.set_threshold(*self._thresholds)
        self._serving_crowd = on
