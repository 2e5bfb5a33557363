"""What people do with private rooms and direct conversations, through the real API, for
tests to read like behaviour: `api.invite(owner, room, bob)` answers the response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from websockets.exceptions import InvalidStatus

from tests.support.users import Account, unique_name
from tests.ws.chat_client import join, next_page, until_ready

CHAT = "/chat/ws"


@dataclass
class Api:
    http: httpx.AsyncClient
    base_url: str  # for websockets

    async def create(self, owner: Account, *, private: bool, name: str = "room") -> str:
        room_id = unique_name("r").lower()
        response = await self.http.post(
            f"{CHAT}/createRoom",
            json={"name": name, "id": room_id, "private": private},
            headers=owner.headers,
        )
        assert response.status_code == 200, response.text
        return room_id

    async def dm(self, who: Account, other_id: int) -> httpx.Response:
        return await self.http.post(f"{CHAT}/dm", params={"userId": other_id}, headers=who.headers)

    async def room(self, who: Account, room_id: str) -> httpx.Response:
        return await self.http.get(f"{CHAT}/rooms/{room_id}", headers=who.headers)

    async def rooms(self, who: Account, **params: Any) -> list[dict[str, Any]]:
        """Every page of getRooms (following the Link header)."""
        url: str | None = f"{CHAT}/getRooms"
        found: list[dict[str, Any]] = []
        for _ in range(100):
            response = await self.http.get(url or "", params=params, headers=who.headers)
            assert response.status_code == 200, response.text
            found.extend(response.json())
            url = next_page(response)
            params = {}
            if url is None:
                return found
        raise AssertionError("getRooms did not end")

    async def invite(self, who: Account, room_id: str, invitee_id: int) -> httpx.Response:
        return await self.http.post(
            f"{CHAT}/rooms/{room_id}/invites", params={"userId": invitee_id}, headers=who.headers
        )

    async def invites(self, who: Account) -> list[dict[str, Any]]:
        response = await self.http.get(f"{CHAT}/invites", headers=who.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def answer(self, who: Account, room_id: str, *, accept: bool) -> httpx.Response:
        verb = "accept" if accept else "decline"
        return await self.http.post(f"{CHAT}/invites/{room_id}/{verb}", headers=who.headers)

    async def add(self, owner: Account, room_id: str, *people: Account) -> None:
        """Invite and accept, for a private room's cast."""
        for person in people:
            assert (await self.invite(owner, room_id, person.id)).status_code == 200
            assert (await self.answer(person, room_id, accept=True)).status_code == 200

    async def members(self, who: Account, room_id: str, **params: Any) -> httpx.Response:
        return await self.http.get(
            f"{CHAT}/rooms/{room_id}/members", params=params, headers=who.headers
        )

    async def set_role(self, who: Account, room_id: str, user_id: int, role: str) -> httpx.Response:
        return await self.http.post(
            f"{CHAT}/rooms/{room_id}/members/{user_id}/role",
            json={"role": role},
            headers=who.headers,
        )

    async def kick(self, who: Account, room_id: str, user_id: int) -> httpx.Response:
        return await self.http.delete(
            f"{CHAT}/rooms/{room_id}/members/{user_id}", headers=who.headers
        )

    async def leave(self, who: Account, room_id: str) -> httpx.Response:
        return await self.http.post(f"{CHAT}/rooms/{room_id}/leave", headers=who.headers)

    async def ban(
        self, who: Account, room_id: str, user_id: int, reason: str | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"{CHAT}/rooms/{room_id}/bans/{user_id}",
            json={"reason": reason} if reason else None,
            headers=who.headers,
        )

    async def unban(self, who: Account, room_id: str, user_id: int) -> httpx.Response:
        return await self.http.delete(f"{CHAT}/rooms/{room_id}/bans/{user_id}", headers=who.headers)

    async def bans(self, who: Account, room_id: str) -> httpx.Response:
        return await self.http.get(f"{CHAT}/rooms/{room_id}/bans", headers=who.headers)

    async def clients(self, who: Account, room_id: str) -> httpx.Response:
        return await self.http.get(f"{CHAT}/getClients/{room_id}", headers=who.headers)

    async def join_status(self, who: Account, room_id: str, *, prefix: str = "/chat") -> int:
        """101 once in (and out again), else the handshake's refusal status."""
        try:
            async with join(self.base_url, room_id, who, prefix=prefix) as ws:
                await until_ready(ws)
        except InvalidStatus as refused:
            return refused.response.status_code
        return 101

    async def block(self, who: Account, other_id: int) -> None:
        response = await self.http.post(
            "/users/block", params={"toBlockId": other_id}, headers=who.headers
        )
        assert response.status_code == 200, response.text
