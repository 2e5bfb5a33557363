"""Control characters and invisible-only text are refused by every service with a JSON 422
(404 for a room id no room can have), on SQLite and PostgreSQL alike: never a 500 from the
driver, never a NUL stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from shared.pagination import encode_cursor
from tests.support.servers import ThreadServer
from tests.support.users import PASSWORD, register, unique_name
from tests.ws.chat_client import join


def assert_refused(response: httpx.Response, status: int = 422) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "\x00" not in response.text


@pytest.mark.parametrize("login", ["no\x00body", "a\x01b", "tab\tname"])
async def test_a_login_with_a_control_character_is_422(
    client: httpx.AsyncClient, login: str
) -> None:
    assert_refused(await client.post("/auth/login", json={"email": login, "password": PASSWORD}))


async def test_a_sign_up_with_a_control_character_is_422(client: httpx.AsyncClient) -> None:
    name = unique_name()
    for body in (
        {"username": name, "email": f"{name}\x00@example.com", "password": PASSWORD},
        {"username": f"{name}\x00", "email": f"{name}@example.com", "password": PASSWORD},
    ):
        assert_refused(await client.post("/auth/register", json=body))


@pytest.mark.parametrize(
    "name", ["a\x00b", "a\x1bb", "line\nbreak", "\u200b\u200b", "\u202e", " \u2066\u200d "]
)
async def test_room_names_with_controls_or_nothing_visible_are_422(
    client: httpx.AsyncClient, name: str
) -> None:
    alice = await register(client)
    response = await client.post("/chat/ws/createRoom", json={"name": name}, headers=alice.headers)
    assert_refused(response)


async def test_room_ids_and_cursors_with_nul_are_refused(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    assert_refused(await client.get("/chat/ws/getClients/a%00b", headers=alice.headers))
    assert_refused(await client.get("/chat/ws/getClients/a%01b", headers=alice.headers))
    forged = encode_cursor("a\x00b")
    assert_refused(await client.get(f"/chat/ws/getRooms?cursor={forged}", headers=alice.headers))
    assert_refused(await client.get("/chat/ws/getRooms?cursor=a%00b", headers=alice.headers))
    # An id without controls that no room has is still a plain 404.
    assert_refused(await client.get("/chat/ws/getClients/no-such", headers=alice.headers), 404)


async def test_joining_a_room_id_with_nul_is_404(
    client: httpx.AsyncClient, dev_server: ThreadServer
) -> None:
    alice = await register(client)
    with pytest.raises(InvalidStatus) as refused:
        async with join(dev_server.url, "a%00b", alice):
            pass
    assert refused.value.response.status_code == 404
    assert b"room not found" in refused.value.response.body


@pytest.mark.parametrize(
    "content", ["a\x00b", "bell\x07", "esc\x1b[2J", "\u200b\u200b", "\u202e", "\u2066 \u2069"]
)
async def test_posts_with_controls_or_nothing_visible_are_422(
    client: httpx.AsyncClient, content: str
) -> None:
    alice = await register(client)
    response = await client.post("/users/posts", json={"content": content}, headers=alice.headers)
    assert_refused(response)


async def test_posts_keep_tabs_and_line_breaks(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    response = await client.post(
        "/users/posts", json={"content": "one\ttwo\r\nthree"}, headers=alice.headers
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    assert body["content"] == "one\ttwo\r\nthree"


@pytest.mark.parametrize("path", ["/users/users?q=a%00", "/users/feed?cursor=%00"])
async def test_user_queries_with_nul_are_422(client: httpx.AsyncClient, path: str) -> None:
    alice = await register(client)
    assert_refused(await client.get(path, headers=alice.headers))
