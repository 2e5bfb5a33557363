"""How many sockets one user and one client address may hold on this instance, and how fast
one address may open them: plain code the connection endpoint asks before the upgrade.

Each check and its count happen in one step with no await in between, so handshakes that
arrive together cannot all pass a check meant for some of them (the event loop runs one at
a time). Time is passed in, as for `TokenBucket`, so the rules are tested without sleeping.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TypeVar

from shared.errors import TooManyRequests
from ws_service.connection.limits import TokenBucket

# Addresses whose handshake buckets are remembered at once; past it, idle ones are dropped
# (an idle bucket is full again, so forgetting it changes nothing).
MAX_TRACKED_ADDRESSES = 10_000
K = TypeVar("K", int, str)


class CapReached(TooManyRequests):
    """A handshake refused (429 with `Retry-After`, before the upgrade): which cap."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One open socket's place in the counts; give it back with `ConnectionCaps.release`."""

    user_id: int
    address: str


class ConnectionCaps:
    def __init__(
        self,
        *,
        per_user: int,
        per_address: int,
        handshake_rate: float,
        handshake_burst: int,
    ) -> None:
        self._per_user = per_user
        self._per_address = per_address
        self._rate = handshake_rate
        self._burst = handshake_burst
        self._by_user: Counter[int] = Counter()
        self._by_address: Counter[str] = Counter()
        self._handshakes: dict[str, tuple[TokenBucket, float]] = {}

    def handshake(self, address: str, *, now: float) -> None:
        """Count one handshake from `address` (whatever its outcome); `CapReached` when the
        address opens them faster than the rate allows after its burst."""
        bucket, _seen = self._handshakes.get(address) or (
            TokenBucket(rate=self._rate, burst=self._burst, now=now),
            now,
        )
        if len(self._handshakes) >= MAX_TRACKED_ADDRESSES and address not in self._handshakes:
            self._forget_idle(now)
        self._handshakes[address] = (bucket, now)
        if not bucket.take(now):
            raise CapReached(
                "too many connection attempts from this address; slow down",
                retry_after=max(1, round(1 / self._rate)),
            )

    def open(self, *, user_id: int, address: str) -> Slot:
        """Take a place for a socket of `user_id` from `address`, or `CapReached`."""
        if self._by_user[user_id] >= self._per_user:
            raise CapReached(
                f"too many open connections for this user (at most {self._per_user})",
                retry_after=5,
            )
        if self._by_address[address] >= self._per_address:
            raise CapReached(
                f"too many open connections from this address (at most {self._per_address})",
                retry_after=5,
            )
        self._by_user[user_id] += 1
        self._by_address[address] += 1
        return Slot(user_id=user_id, address=address)

    def release(self, slot: Slot) -> None:
        _decrement(self._by_user, slot.user_id)
        _decrement(self._by_address, slot.address)

    def open_for(self, *, user_id: int | None = None, address: str | None = None) -> int:
        """Sockets open now for a user or an address (for metrics and tests)."""
        return self._by_user[user_id] if user_id is not None else self._by_address[address or ""]

    def _forget_idle(self, now: float) -> None:
        refill = self._burst / self._rate  # after this long a bucket is full again
        for address, (_bucket, seen) in list(self._handshakes.items()):
            if now - seen >= refill:
                del self._handshakes[address]
        if len(self._handshakes) >= MAX_TRACKED_ADDRESSES:  # all busy: keep the newest half
            for address in list(self._handshakes)[: MAX_TRACKED_ADDRESSES // 2]:
                del self._handshakes[address]


def _decrement(counts: Counter[K], key: K) -> None:
    """One less; a key at zero is dropped, so the counts hold only who has a socket open."""
    if counts[key] <= 1:
        counts.pop(key, None)
    else:
        counts[key] -= 1
