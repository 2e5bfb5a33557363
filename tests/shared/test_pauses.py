"""Crowds of long-lived objects (sockets) are frozen out of the collector's sight as they
grow, and handed back, once, when they have halved."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from shared.pauses import PauseMetrics, PauseMonitor


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class Connection:
    """Stands in for a socket's objects: a reference cycle, as real ones have."""

    def __init__(self) -> None:
        self.me = self


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
    assert gc.get_freeze_count() >= len(crowd)  # the crowd, among everything else alive

    monitor.follow_population(150)  # grown by less than 100 since: nothing to do
    assert freezes() == 1

    gone = [weakref.ref(connection) for connection in crowd[40:]]
    del crowd[40:]  # their cycles are garbage now, frozen out of the collector's sight
    monitor.follow_population(len(crowd))
    assert freezes() == 2
    # The one full collection over everything found them; the rest is alive and frozen.
    assert all(ref() is None for ref in gone)
    assert all(connection.me is connection for connection in crowd)
