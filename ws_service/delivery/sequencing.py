"""Per-room ordering: every message released once, in sequence order, with no gaps.

Messages of one room reach an instance from several publishers (every instance publishes
what it stored) and can arrive out of order, twice, or not at all (a subscriber that fell
behind gets a reset instead). `RoomSequence` releases the next expected message and those
held back behind it; what is still missing is filled from the database, where every
sequence number below a stored one is already committed (they are handed out under the
room's row lock).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class RoomSequence(Generic[T]):
    __slots__ = ("_held", "_known_last", "next_seq")

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq
        self._held: dict[int, T] = {}
        self._known_last = next_seq - 1

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def last_known(self) -> int:
        """The highest sequence number known to exist (released or held back)."""
        return max(self._known_last, self.next_seq - 1)

    @property
    def missing(self) -> tuple[int, int] | None:
        """`(first, last)` of the sequence numbers known to exist but not yet seen."""
        if self._known_last < self.next_seq:
            return None
        return self.next_seq, self._known_last

    def offer(self, seq: int, item: T) -> list[T]:
        """The items now releasable, in order: `item` and whatever was held behind it."""
        if seq < self.next_seq or seq in self._held:
            return []  # already released, or already waiting
        if seq > self.next_seq:
            self._held[seq] = item
            self._known_last = max(self._known_last, seq)
            return []
        released = [item]
        self.next_seq += 1
        self._release_contiguous(released)
        return released

    def expect(self, last_seq: int) -> None:
        """Messages up to `last_seq` exist (the database says so) even if none arrived."""
        self._known_last = max(self._known_last, last_seq)

    def drop_held(self) -> None:
        """Forget what is held back (to bound memory); it is still known to exist."""
        self._held.clear()

    def fill(self, items: Iterable[tuple[int, T]], *, through: int) -> list[T]:
        """`items` are all that exist from `next_seq` to `through`, as read from the
        database: release them; any number in that range they lack no longer exists and is
        skipped (a deleted account's messages stay as tombstones, so none should)."""
        released: list[T] = []
        for seq, item in items:
            released.extend(self.offer(seq, item))
        if self.next_seq <= through:
            for seq in sorted(s for s in self._held if s <= through):
                released.append(self._held.pop(seq))
            self.next_seq = through + 1
            self._release_contiguous(released)
        return released

    def _release_contiguous(self, released: list[T]) -> None:
        held = self._held
        while self.next_seq in held:
            released.append(held.pop(self.next_seq))
            self.next_seq += 1
