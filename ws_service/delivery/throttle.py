"""At most one event per key per interval: the typing rule ("at most one forwarded per person
per room every 2 s"), plain code tested without a clock."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Throttle(Generic[K]):
    """Remembers only keys let through in the last `interval` seconds, so its memory is
    bounded by recent activity, not by everyone who ever typed. Amortised O(1) per call."""

    __slots__ = ("_interval", "_last")

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._last: dict[K, float] = {}  # in the order let through: oldest first

    def __len__(self) -> int:
        return len(self._last)

    def allow(self, key: K, now: float) -> bool:
        last = self._last
        previous = last.get(key)
        if previous is not None and now - previous < self._interval:
            return False
        last.pop(key, None)
        last[key] = now
        while True:  # forget what has expired (the oldest come first)
            oldest = next(iter(last))
            if now - last[oldest] < self._interval:
                return True
            del last[oldest]
