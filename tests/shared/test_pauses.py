"""Crowds of long-lived objects (sockets) are frozen out of the collector's sight as they
grow, and handed back, once, when they have halved."""

from __future__ import annotations

import gc
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
    crowd = [Connection() for _ in range(99)]
    monitor.follow_population(len(crowd))
    assert gc.get_freeze_count() == 0  # not grown enough yet

    crowd += [Connection() for _ in range(1)]
    monitor.follow_population(len(crowd))
    frozen = gc.get_freeze_count()
    assert frozen >= 100  # the crowd, among everything else alive
    assert metrics.gc_freezes._value.get() == 1

    monitor.follow_population(150)  # grown by less than 100 since: nothing to do
    assert gc.get_freeze_count() == frozen

    del crowd[40:]  # down to 40 of the 100 frozen: their cycles are garbage, out of sight
    monitor.follow_population(40)
    assert metrics.gc_freezes._value.get() == 2
    # The full collection over everything found the 60 cycles: fewer objects frozen now.
    assert gc.get_freeze_count() <= frozen - 60
