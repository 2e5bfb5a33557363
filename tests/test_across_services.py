"""The three services run as separate apps on one database: one token library, one truth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from auth_service.app import create_app as create_auth_app
from shared.settings import Settings
from tests.support.servers import ThreadServer
from tests.support.users import PASSWORD, register
from user_service.app import create_app as create_user_app
from ws_service.app import create_app as create_ws_app


@dataclass
class Services:
    auth: ThreadServer
    user: ThreadServer
    ws: ThreadServer


@pytest.fixture(scope="module")
def services(settings: Settings) -> Iterator[Services]:
    running = Services(
        auth=ThreadServer(create_auth_app(settings), settings).start(),
        user=ThreadServer(create_user_app(settings), settings).start(),
        ws=ThreadServer(create_ws_app(settings), settings).start(),
    )
    yield running
    for server in (running.auth, running.user, running.ws):
        server.stop()


async def test_only_the_auth_service_holds_the_private_key(services: Services) -> None:
    def private_pem(server: ThreadServer) -> str | None:
        key: str | None = server.app.state.runtime.tokens._keys.private_pem
        return key

    assert private_pem(services.auth) is not None
    assert private_pem(services.user) is None
    assert private_pem(services.ws) is None
    now = datetime.now(UTC)
    for server in (services.user, services.ws):
        with pytest.raises(RuntimeError, match="cannot mint tokens"):
            server.app.state.runtime.tokens.encode(
                user_id=1, session_id=uuid.uuid4(), issued_at=now, expires_at=now
            )


async def test_logout_kills_token_in_every_service(services: Services) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        auth = httpx.AsyncClient(base_url=services.auth.url, timeout=30)
        async with auth:
            account = await register(auth, "everywhere", auth_path="")
            second = await auth.post(
                "/login", json={"email": account.username, "password": PASSWORD}
            )
            other_session = {"Authorization": f"Bearer {second.json()['access_token']}"}
            checks = [
                f"{services.auth.url}/me",
                f"{services.user.url}/users/{account.id}",
                f"{services.user.url}/feed",
                f"{services.ws.url}/ws/getRooms",
            ]
            for url in checks:
                assert (await http.get(url, headers=account.headers)).status_code == 200, url

            assert (await auth.post("/logout", headers=account.headers)).status_code == 202

            for url in checks:
                refused = await http.get(url, headers=account.headers)
                assert refused.status_code == 401, url
                assert refused.headers["www-authenticate"] == "Bearer"
                # The user's other session lives on: logout ends one session, not the account.
                assert (await http.get(url, headers=other_session)).status_code == 200, url
