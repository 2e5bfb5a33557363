from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.models import UserFollower
from tests.support.users import register
from tests.user.actions import USERS, follow, profile, walk

MISSING_USER = 2**63 - 1


async def test_follow_answers_the_follow_and_counts_change(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    body = await follow(client, alice, bob.id)
    assert set(body) == {"follower_id", "following_id", "following", "created_at"}
    assert body["follower_id"] == alice.id
    assert body["following_id"] == bob.id
    assert body["following"] is True
    datetime.fromisoformat(body["created_at"])
    assert (await profile(client, alice, bob.id))["followers"] == 1
    assert (await profile(client, alice, alice.id))["following"] == 1


async def test_following_twice_is_200_and_changes_nothing(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    first = await follow(client, alice, bob.id)
    second = await follow(client, alice, bob.id)
    assert second == first  # the same follow, created when it was first made
    assert (await profile(client, alice, bob.id))["followers"] == 1


async def test_unfollow_answers_not_following_and_is_idempotent(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client), await register(client)
    await follow(client, alice, bob.id)
    for _ in range(2):  # the second time: not followed any more, still 200
        response = await client.post(
            f"{USERS}/unfollow", params={"toUnfollowId": bob.id}, headers=alice.headers
        )
        assert response.status_code == 200
        assert response.json() == {
            "follower_id": alice.id,
            "following_id": bob.id,
            "following": False,
        }
    assert (await profile(client, alice, bob.id))["followers"] == 0


async def test_following_or_unfollowing_yourself_is_400(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    for path, name in (("follow", "toFollowId"), ("unfollow", "toUnfollowId")):
        response = await client.post(
            f"{USERS}/{path}", params={name: alice.id}, headers=alice.headers
        )
        assert response.status_code == 400, path
        assert "yourself" in response.json()["detail"]
    assert (await profile(client, alice, alice.id))["followers"] == 0


async def test_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    for path, name in (("follow", "toFollowId"), ("unfollow", "toUnfollowId")):
        response = await client.post(
            f"{USERS}/{path}", params={name: MISSING_USER}, headers=alice.headers
        )
        assert response.status_code == 404, path
        assert response.json() == {"detail": "no such user"}


@pytest.mark.parametrize(("path", "name"), [("follow", "toFollowId"), ("unfollow", "toUnfollowId")])
@pytest.mark.parametrize(
    "value",
    [
        None,  # missing
        "",
        "abc",
        "1.5",
        "-1",
        "0",
        str(2**63),  # beyond a 64-bit id: refused before the database sees it
        "1e3",
    ],
)
async def test_missing_non_numeric_or_negative_id_is_422(
    client: httpx.AsyncClient, path: str, name: str, value: str | None
) -> None:
    alice = await register(client)
    query = {} if value is None else {name: value}
    response = await client.post(f"{USERS}/{path}", params=query, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", name]


async def test_the_follower_is_always_the_token_holder(client: httpx.AsyncClient) -> None:
    """Naming someone else as the follower (in any spelling) changes nothing: a follow is
    always made by whoever the token belongs to."""
    alice = await register(client)
    bob = await register(client)
    carol = await register(client)
    response = await client.post(
        f"{USERS}/follow",
        params={"toFollowId": carol.id, "followerId": bob.id, "follower_id": bob.id},
        headers=alice.headers,
    )
    assert response.status_code == 200
    assert response.json()["follower_id"] == alice.id
    assert (await profile(client, alice, bob.id))["following"] == 0
    followers = await walk(client, alice, f"/users/{carol.id}/followers")
    assert [f["id"] for f in followers] == [alice.id]


async def test_concurrent_follows_make_one_row_and_no_error(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    alice, bob = await register(client), await register(client)
    responses = await asyncio.gather(
        *(
            client.post(f"{USERS}/follow", params={"toFollowId": bob.id}, headers=alice.headers)
            for _ in range(20)
        )
    )
    assert [r.status_code for r in responses] == [200] * 20
    assert len({r.json()["created_at"] for r in responses}) == 1
    async with db_engine.connect() as conn:
        rows = await conn.scalar(
            select(func.count())
            .select_from(UserFollower)
            .where(UserFollower.follower_id == alice.id, UserFollower.following_id == bob.id)
        )
    assert rows == 1


async def test_concurrent_follows_and_unfollows_never_fail(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)

    def toggle(i: int) -> Awaitable[httpx.Response]:
        if i % 2:
            return client.post(
                f"{USERS}/unfollow", params={"toUnfollowId": bob.id}, headers=alice.headers
            )
        return client.post(f"{USERS}/follow", params={"toFollowId": bob.id}, headers=alice.headers)

    responses = await asyncio.gather(*(toggle(i) for i in range(30)))
    assert {r.status_code for r in responses} == {200}
    assert (await profile(client, alice, bob.id))["followers"] in (0, 1)


async def test_many_followers_at_once(client: httpx.AsyncClient) -> None:
    star = await register(client, "star")
    fans = await asyncio.gather(*(register(client, "fan") for _ in range(12)))
    await asyncio.gather(*(follow(client, fan, star.id) for fan in fans))
    assert (await profile(client, star, star.id))["followers"] == 12


async def test_followers_and_following_lists_page_through_everyone(
    client: httpx.AsyncClient,
) -> None:
    star = await register(client, "star")
    fans = await asyncio.gather(*(register(client, "fan") for _ in range(13)))
    for fan in fans:
        await follow(client, fan, star.id)
        await follow(client, star, fan.id)
    expected = sorted((fan.id for fan in fans), reverse=True)  # newest accounts first
    for direction in ("followers", "following"):
        for limit in (1, 5, 13, 100):
            listed = await walk(client, star, f"/users/{star.id}/{direction}", limit=limit)
            assert [entry["id"] for entry in listed] == expected, (direction, limit)
    entry = (await walk(client, star, f"/users/{star.id}/followers", limit=100))[0]
    assert set(entry) == {"id", "username", "created_at", "followed_at"}
    newest = max(fans, key=lambda fan: fan.id)
    assert (entry["id"], entry["username"]) == (newest.id, newest.username)
    # Seen from a fan: they follow the star and the star follows them.
    one = fans[0]
    assert [e["id"] for e in await walk(client, one, f"/users/{one.id}/following")] == [star.id]
    assert [e["id"] for e in await walk(client, one, f"/users/{one.id}/followers")] == [star.id]


async def test_lists_of_an_unknown_user_are_404(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    for direction in ("followers", "following"):
        response = await client.get(
            f"{USERS}/users/{MISSING_USER}/{direction}", headers=alice.headers
        )
        assert response.status_code == 404


async def test_lists_of_someone_new_are_empty(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    for direction in ("followers", "following"):
        response = await client.get(f"{USERS}/users/{alice.id}/{direction}", headers=alice.headers)
        assert response.json() == {"items": [], "next_cursor": None}
