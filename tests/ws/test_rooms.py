"""`/ws/createRoom`, `/ws/getRooms`, `/ws/getClients/{roomId}` through the all-in-one server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.servers import ThreadServer
from tests.support.users import Account, register, unique_name
from tests.ws.chat_client import create_room, join, next_page, online_in, until_ready


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/chat/")
    assert response.status_code == 200
    assert response.json() == {"service": "ws", "status": "ok"}


async def test_create_room_with_an_id(client: httpx.AsyncClient, alice: Account) -> None:
    room_id = unique_name("general").lower()
    response = await client.post(
        "/chat/ws/createRoom", json={"name": " General ", "id": room_id}, headers=alice.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == room_id and body["name"] == "General"
    assert body["created_by"] == alice.id
    assert body["created_at"].endswith("Z")
    assert {"id", "name", "created_by", "created_at"} <= set(body)  # responses only grow
    assert body["kind"] == "public"


async def test_create_room_generates_an_id(client: httpx.AsyncClient, alice: Account) -> None:
    first = await client.post("/chat/ws/createRoom", json={"name": "a"}, headers=alice.headers)
    second = await client.post("/chat/ws/createRoom", json={"name": "a"}, headers=alice.headers)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["id"].isalnum()


async def test_a_taken_id_is_409(client: httpx.AsyncClient, alice: Account, bob: Account) -> None:
    room_id = await create_room(client, alice)
    again = await client.post(
        "/chat/ws/createRoom", json={"name": "x", "id": room_id}, headers=bob.headers
    )
    assert again.status_code == 409
    assert again.json() == {"detail": "room id already taken"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": 5},
        {"name": "x", "id": ""},
        {"name": "x", "id": "Upper"},
        {"name": "x", "id": "has space"},
        {"name": "x", "id": "a" * 65},
        {"name": "x", "extra": True},
    ],
)
async def test_bad_bodies_are_422(
    client: httpx.AsyncClient, alice: Account, body: dict[str, object]
) -> None:
    response = await client.post("/chat/ws/createRoom", json=body, headers=alice.headers)
    assert response.status_code == 422


async def test_malformed_json_is_422(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post(
        "/chat/ws/createRoom",
        content=b"{nope",
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/chat/ws/createRoom"),
        ("GET", "/chat/ws/getRooms"),
        ("GET", "/chat/ws/getClients/x"),
    ],
)
async def test_every_room_endpoint_needs_a_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"name": "x"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_get_rooms_pages_with_a_link_header(
    client: httpx.AsyncClient, alice: Account
) -> None:
    created = {await create_room(client, alice) for _ in range(5)}
    seen: list[str] = []
    url: str | None = "/chat/ws/getRooms?limit=2"
    while url is not None:
        response = await client.get(url, headers=alice.headers)
        assert response.status_code == 200
        page = response.json()
        assert len(page) <= 2
        seen.extend(room["id"] for room in page)
        assert response.headers.get("link", "<?").startswith("<?")  # relative: gateway-proof
        url = next_page(response)
    assert created <= set(seen)
    assert seen == sorted(seen) and len(seen) == len(set(seen))


async def test_get_rooms_limit_bounds(client: httpx.AsyncClient, alice: Account) -> None:
    for bad in ("0", "501", "x"):
        response = await client.get(f"/chat/ws/getRooms?limit={bad}", headers=alice.headers)
        assert response.status_code == 422
    assert (await client.get("/chat/ws/getRooms?limit=500", headers=alice.headers)).is_success
    bad_cursor = await client.get("/chat/ws/getRooms?cursor=%%%", headers=alice.headers)
    assert bad_cursor.status_code == 422


async def test_online_and_clients_count_each_user_once(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    carol = await register(client, "carol")
    async with (
        join(dev_server.url, room_id, alice) as tab1,
        join(dev_server.url, room_id, alice) as tab2,
        join(dev_server.url, room_id, bob) as other,
    ):
        for ws in (tab1, tab2, other):
            await until_ready(ws)
        clients = await client.get(f"/chat/ws/getClients/{room_id}", headers=carol.headers)
        assert clients.status_code == 200
        assert sorted(clients.json(), key=lambda c: c["user_id"]) == sorted(
            [
                {"user_id": alice.id, "username": alice.username},
                {"user_id": bob.id, "username": bob.username},
            ],
            key=lambda c: c["user_id"],
        )
        assert await online_in(client, carol, room_id) == 2
    for _ in range(100):  # the handlers finish just after the sockets close
        left = await client.get(f"/chat/ws/getClients/{room_id}", headers=carol.headers)
        if left.json() == []:
            break
        await asyncio.sleep(0.05)
    assert left.json() == []
    assert await online_in(client, carol, room_id) == 0


async def test_get_clients_of_an_unknown_room_is_404(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.get("/chat/ws/getClients/no-such-room", headers=alice.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "room not found"}
