"""Crowds of long-lived objects (sockets) are frozen out of the collector's sight as they
grow, and handed back, once, when they have halved."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import Iterator, Sequence

import pytest
from prometheus_client import CollectorRegistry

from shared.pauses import LAG_PROBE_SECONDS, PauseMetrics, PauseMonitor


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Connection:
    """Stands in for a socket's objects: a reference cycle, as real ones have."""

    def __init__(self) -> None:
        self.me = self


def watched(things: Sequence[object], generation: int | None = None) -> int:
    """How many of `things` the collector still walks (not frozen), in `generation` when
    given. Counted object by object: `gc.get_freeze_count()` also moves as the servers other
    tests run in threads of this process free frozen objects."""
    ids = {id(thing) for thing in things}
    return sum(1 for thing in gc.get_objects(generation) if id(thing) in ids)


def test_a_growing_crowd_is_frozen_in_steps_and_handed_back_once_halved(unfrozen: None) -> None:
    metrics = PauseMetrics(CollectorRegistry())
    monitor = PauseMonitor(metrics, freeze_growth=100)

    def freezes() -> float:
        return metrics.gc_freezes._value.get()

    crowd = [Connection() for _ in range(99)]
    monitor.follow_population(len(crowd))
    assert freezes() == 0  # not grown enough yet

    crowd.append(Connection())
    monitor.follow_population(len(crowd))
    assert freezes() == 1
    assert watched(crowd) == 0  # the crowd, among everything else alive

    monitor.follow_population(150)  # grown by less than 100 since: nothing to do
    assert freezes() == 1

    gone = [weakref.ref(connection) for connection in crowd[40:]]
    del crowd[40:]  # their cycles are garbage now, frozen out of the collector's sight
    monitor.follow_population(len(crowd))
    assert freezes() == 2
    # The one full collection over everything found them; the rest is alive and frozen.
    assert all(ref() is None for ref in gone)
    assert all(connection.me is connection for connection in crowd)


def test_a_crowd_that_turns_over_is_handed_back_once_half_of_it_has_gone(
    unfrozen: None,
) -> None:
    metrics = PauseMetrics(CollectorRegistry())
    monitor = PauseMonitor(metrics, freeze_growth=100)
    crowd = [Connection() for _ in range(200)]
    monitor.follow_population(len(crowd))
    assert metrics.gc_freezes._value.get() == 1
    gone = [weakref.ref(connection) for connection in crowd[:100]]
    # Never fewer than 150 at once, but 100 of the 200 leave and others take their place.
    for step in range(2):
        del crowd[:50]
        monitor.follow_population(len(crowd))
        crowd += [Connection() for _ in range(50)]
        monitor.follow_population(len(crowd))
        assert metrics.gc_freezes._value.get() == 1 + step
    assert all(ref() is None for ref in gone)


async def test_the_survivors_of_a_full_collection_are_frozen_while_a_crowd_is_served(
    unfrozen: None,
) -> None:
    thresholds = gc.get_threshold()
    crowd: list[Connection] = []
    monitor = PauseMonitor(
        PauseMetrics(CollectorRegistry()), population=lambda: len(crowd), freeze_growth=100
    )
    async with monitor:
        made = [Connection() for _ in range(1000)]
        gc.collect()
        assert watched(made) == len(made)  # a few sockets: no crowd yet

        crowd += [Connection() for _ in range(100)]
        monitor.follow_population(len(crowd))
        assert gc.get_threshold() != thresholds  # full collections after middle ones
        made += [Connection() for _ in range(1000)]
        gc.collect()
        assert watched(made) == 0

        crowd.clear()
        monitor.follow_population(len(crowd))
        assert gc.get_threshold() == thresholds  # the crowd has gone
    assert gc.get_freeze_count() == 0
    assert all(connection.me is connection for connection in made)


async def test_a_crowds_young_generation_is_collected_in_time_though_frees_hide_its_growth(
    unfrozen: None,
) -> None:
    """CPython starts a young collection when allocations outnumber deallocations by 700,
    whatever generation the freed objects were in: with sockets replacing old in-flight
    objects by new ones, the young generation grew unseen to ~190,000 objects (a 90 ms
    collection). While a crowd is served, the probe collects it at every tick."""
    crowd = [Connection() for _ in range(100)]
    monitor = PauseMonitor(
        PauseMetrics(CollectorRegistry()), population=lambda: len(crowd), freeze_growth=100
    )
    async with monitor:
        monitor.follow_population(len(crowd))
        held = [[i] for i in range(20_000)]
        gc.collect()  # old now
        for i in range(len(held)):  # each new object's allocation offset by an old one's free
            held[i] = [i]
        assert watched(held, generation=0) > 1_000  # no collection started meanwhile
        await asyncio.sleep(3 * LAG_PROBE_SECONDS)
        assert watched(held, generation=0) == 0


async def test_a_service_without_a_crowd_freezes_only_what_start_up_left(
    unfrozen: None,
) -> None:
    async with PauseMonitor(PauseMetrics(CollectorRegistry())):
        made = [Connection() for _ in range(1000)]
        gc.collect()
        assert watched(made) == len(made)
        assert all(connection.me is connection for connection in made)


async def test_a_collection_set_off_while_metrics_are_rendered_does_not_stop_the_thread(
    unfrozen: None,
) -> None:
    """A /metrics render copies the pause histogram's children under its lock, which is not
    re-entrant; a collection that the copy sets off (rarely: dicts come from a free list)
    times its pause without taking that lock."""
    registry = CollectorRegistry()
    metrics = PauseMetrics(registry)

    def collect_as_a_render_can() -> None:
        with metrics.gc_pause._lock:
            gc.collect()

    async with PauseMonitor(metrics, freeze=False):
        rendering = threading.Thread(target=collect_as_a_render_can, daemon=True)
        rendering.start()
        rendering.join(timeout=10)
        assert not rendering.is_alive()
    full = registry.get_sample_value("gochat_gc_pause_seconds_count", {"generation": "2"})
    assert full is not None and full >= 1
