"""Presence for a single instance: the record is this instance's own count."""

from __future__ import annotations

from collections.abc import Sequence

from ws_service.messages.stream import PresenceChange
from ws_service.presence.base import Presence, PresentUser


class MemoryPresence(Presence):
    async def _first_here(self, room_id: str, user_id: int, username: str) -> None:
        await self._announce(PresenceChange("join", room_id, user_id, username))

    async def _last_here(self, room_id: str, user_id: int, username: str) -> None:
        await self._announce(PresenceChange("leave", room_id, user_id, username))

    async def members(self, room_id: str) -> list[PresentUser]:
        users = self._local.get(room_id, {})
        present = [PresentUser(user_id, here.username) for user_id, here in users.items()]
        return sorted(present, key=lambda user: (user.username.lower(), user.user_id))

    async def online_counts(self, room_ids: Sequence[str]) -> dict[str, int]:
        return {room_id: len(self._local.get(room_id, {})) for room_id in room_ids}
