"""Every list endpoint: `limit` 1-100 (default 20) and an opaque cursor, refused when forged."""

from __future__ import annotations

import base64

import httpx
import pytest

from shared.pagination import encode_cursor
from tests.support.users import Account, register
from tests.user.actions import USERS, follow, write_post


def list_paths(account: Account) -> dict[str, dict[str, str]]:
    """Each list endpoint and the query it needs besides limit and cursor."""
    return {
        "/feed": {},
        f"/users/{account.id}/posts": {},
        f"/users/{account.id}/followers": {},
        f"/users/{account.id}/following": {},
        "/users": {"q": account.username[:3]},
    }


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "1.5", "99999999999999999999"])
async def test_limit_out_of_range_is_422_everywhere(client: httpx.AsyncClient, limit: str) -> None:
    alice = await register(client)
    for path, params in list_paths(alice).items():
        response = await client.get(
            f"{USERS}{path}", params={**params, "limit": limit}, headers=alice.headers
        )
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]


ID_CURSOR_FORGERIES = [
    "!!!",
    "abc",
    "A" * 513,  # longer than any cursor this service makes
    base64.urlsafe_b64encode(b'{"id": 5}').decode(),
    encode_cursor("5"),
    encode_cursor(0),
    encode_cursor(-1),
    encode_cursor(True),
    encode_cursor(1, 2),
    encode_cursor(2**63),  # beyond a 64-bit key: would overflow the driver
]


@pytest.mark.parametrize("cursor", ID_CURSOR_FORGERIES)
async def test_tampered_cursor_is_422_on_id_ordered_lists(
    client: httpx.AsyncClient, cursor: str
) -> None:
    alice = await register(client)
    for path, params in list_paths(alice).items():
        if path == "/users":
            continue
        response = await client.get(
            f"{USERS}{path}", params={**params, "cursor": cursor}, headers=alice.headers
        )
        assert response.status_code == 422, path


@pytest.mark.parametrize(
    "cursor",
    ["!!!", encode_cursor(5), encode_cursor("a b"), encode_cursor("x" * 33), encode_cursor("A")],
)
async def test_tampered_cursor_is_422_on_username_search(
    client: httpx.AsyncClient, cursor: str
) -> None:
    alice = await register(client)
    response = await client.get(
        f"{USERS}/users", params={"q": "u", "cursor": cursor}, headers=alice.headers
    )
    assert response.status_code == 422


async def test_default_page_is_20_with_a_cursor_to_the_rest(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    for i in range(21):
        await write_post(client, alice, f"post {i}")
    page = (await client.get(f"{USERS}/users/{alice.id}/posts", headers=alice.headers)).json()
    assert len(page["items"]) == 20
    assert page["next_cursor"]
    rest = await client.get(
        f"{USERS}/users/{alice.id}/posts",
        params={"cursor": page["next_cursor"]},
        headers=alice.headers,
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next_cursor"] is None


async def test_a_full_last_page_says_there_is_no_more(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    await follow(client, bob, alice.id)
    response = await client.get(
        f"{USERS}/users/{alice.id}/followers", params={"limit": 1}, headers=alice.headers
    )
    assert response.json()["next_cursor"] is None
