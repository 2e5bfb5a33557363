"""Making accounts through the real API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


async def register(
    client: httpx.AsyncClient,
    prefix: str = "u",
    *,
    auth_path: str = "/auth",
    password: str = PASSWORD,
) -> Account:
    username = unique_name(prefix)
    response = await client.post(
        f"{auth_path}/register",
        json={"username": username, "email": f"{username}@example.com", "password": password},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return Account(
        id=body["user"]["id"],
        username=username,
        email=f"{username}@example.com",
        token=body["access_token"],
    )
