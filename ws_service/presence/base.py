"""Who is connected to which room, over all instances: `getClients`, `online`, join/leave.

Each instance counts its own connections per room and user; only a user's first connection
to a room on this instance and their last one reach the shared record. A user's first
connection over all instances is announced as `join`, their last one as `leave`.

- `MemoryPresence`: one instance, the record is the local count.
- `RedisPresence`: per room, a sorted set of `user_id:instance:username` entries scored by
  their expiry, and a hash counting each user's live entries. Every instance refreshes its
  entries every heartbeat; a killed instance's entries expire after the TTL and the next
  instance that touches the room announces the users that left with them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from ws_service.messages.stream import PresenceChange

Announce = Callable[[PresenceChange], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PresentUser:
    user_id: int
    username: str


class _Here:
    """A user's connections to one room on this instance."""

    __slots__ = ("connections", "username")

    def __init__(self, username: str) -> None:
        self.connections = 1
        self.username = username


class Presence(ABC):
    def __init__(self, announce: Announce) -> None:
        self._announce = announce
        self._local: dict[str, dict[int, _Here]] = {}  # room_id -> user_id -> _Here

    async def __aenter__(self) -> Presence:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def enter(self, room_id: str, user_id: int, username: str) -> None:
        """Once this returns, the user is listed in the room on every instance."""
        users = self._local.setdefault(room_id, {})
        here = users.get(user_id)
        if here is not None:
            here.connections += 1
            return
        users[user_id] = _Here(username)
        await self._first_here(room_id, user_id, username)

    async def leave(self, room_id: str, user_id: int) -> None:
        users = self._local.get(room_id)
        here = users.get(user_id) if users is not None else None
        if users is None or here is None:
            return
        here.connections -= 1
        if here.connections > 0:
            return
        del users[user_id]
        if not users:
            del self._local[room_id]
        await self._last_here(room_id, user_id, here.username)

    @abstractmethod
    async def _first_here(self, room_id: str, user_id: int, username: str) -> None: ...

    @abstractmethod
    async def _last_here(self, room_id: str, user_id: int, username: str) -> None: ...

    @abstractmethod
    async def members(self, room_id: str) -> list[PresentUser]:
        """Each connected user once, ordered by username."""

    @abstractmethod
    async def online_counts(self, room_ids: Sequence[str]) -> dict[str, int]:
        """Users connected now to each of these rooms."""
