from __future__ import annotations

import secrets

import httpx
import pytest

from tests.support.users import Account, register
from tests.user.actions import USERS, follow, profile, walk, write_post

MISSING = 2**63 - 1


def fresh_prefix() -> str:
    return "p" + secrets.token_hex(4)  # 9 characters no other test's usernames start with


async def test_profile_shows_counts_and_never_the_email(client: httpx.AsyncClient) -> None:
    alice, bob, carol = (await register(client), await register(client), await register(client))
    await follow(client, bob, alice.id)
    await follow(client, carol, alice.id)
    await follow(client, alice, bob.id)
    for i in range(3):
        await write_post(client, alice, f"post {i}")
    body = await profile(client, bob, alice.id)
    assert body.pop("created_at")
    assert body == {
        "id": alice.id,
        "username": alice.username,
        "followers": 2,
        "following": 1,
        "posts": 3,
        "followed_by_me": True,  # bob follows alice
        "follows_me": True,
        "blocking": False,
        "blocked_by": False,
        "muting": False,
    }
    assert alice.email not in str(body)


async def test_profile_tells_where_the_caller_stands_with_the_user(
    client: httpx.AsyncClient,
) -> None:
    """Read with the profile, whatever the length of anyone's block or mute list."""
    alice, bob = await register(client), await register(client)
    relations = ("followed_by_me", "follows_me", "blocking", "blocked_by", "muting")

    async def seen(viewer: Account, other: Account) -> set[str]:
        body = await profile(client, viewer, other.id)
        return {name for name in relations if body[name]}

    assert await seen(alice, alice) == set() == await seen(alice, bob)
    await follow(client, alice, bob.id)
    assert await seen(alice, bob) == {"followed_by_me"}
    assert await seen(bob, alice) == {"follows_me"}
    for other in [await register(client) for _ in range(3)]:  # more entries in her lists
        await relate(client, alice, "block", other.id)
    await relate(client, alice, "mute", bob.id)
    assert await seen(alice, bob) == {"followed_by_me", "muting"}
    await relate(client, bob, "block", alice.id)  # ends the follow
    assert await seen(alice, bob) == {"muting", "blocked_by"}
    assert await seen(bob, alice) == {"blocking"}
    await relate(client, alice, "block", bob.id)
    assert await seen(alice, bob) == {"muting", "blocked_by", "blocking"}


async def relate(client: httpx.AsyncClient, who: Account, action: str, target_id: int) -> None:
    name = {"block": "toBlockId", "mute": "toMuteId"}[action]
    response = await client.post(f"{USERS}/{action}", params={name: target_id}, headers=who.headers)
    assert response.status_code == 200, response.text


async def test_profile_of_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    response = await client.get(f"{USERS}/users/{MISSING}", headers=alice.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "no such user"}


@pytest.mark.parametrize("user_id", ["abc", "0", "-1", str(2**63), "1.5"])
async def test_bad_user_ids_in_paths_are_422(client: httpx.AsyncClient, user_id: str) -> None:
    alice = await register(client)
    for suffix in ("", "/posts", "/followers", "/following"):
        response = await client.get(f"{USERS}/users/{user_id}{suffix}", headers=alice.headers)
        assert response.status_code == 422, suffix


async def test_search_finds_usernames_by_prefix_in_any_case(client: httpx.AsyncClient) -> None:
    prefix = fresh_prefix()
    upper = await register(client, prefix.upper() + "Zed")
    lower = await register(client, prefix + "amy")
    await register(client, "x" + prefix)  # contains the prefix, does not start with it
    for q in (prefix, prefix.upper(), prefix[:5] + prefix[5:].upper()):
        found = await walk(client, lower, "/users", params={"q": q})
        # Ordered by lower-cased username: "...amy_..." before "...zed_...".
        assert [u["id"] for u in found] == [lower.id, upper.id], q
    found = await walk(client, lower, "/users", params={"q": prefix + "a"})
    assert found == [
        {"id": lower.id, "username": lower.username, "created_at": found[0]["created_at"]}
    ]


async def test_search_takes_underscore_literally(client: httpx.AsyncClient) -> None:
    """`_` is a wildcard in LIKE; in a username search it is just an underscore."""
    prefix = fresh_prefix()
    underscored = await register(client, prefix + "_x")  # e.g. p1234abcd_x_0a1b2c3d4e
    lettered = await register(client, prefix + "yx")  # e.g. p1234abcdyx_0a1b2c3d4e
    found = await walk(client, lettered, "/users", params={"q": prefix + "_"})
    assert [u["id"] for u in found] == [underscored.id]


async def test_search_pages_through_every_match(client: httpx.AsyncClient) -> None:
    prefix = fresh_prefix()
    accounts = [await register(client, f"{prefix}{i:02d}") for i in range(12)]
    expected = sorted(accounts, key=lambda a: a.username.lower())
    for limit in (1, 5, 12, 100):
        found = await walk(client, accounts[0], "/users", params={"q": prefix}, limit=limit)
        assert [u["id"] for u in found] == [a.id for a in expected], limit
    assert await walk(client, accounts[0], "/users", params={"q": prefix + "zz"}) == []


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "a b"}, {"q": "a%"}, {"q": "é"}, {"q": "a-b"}, {"q": "x" * 33}],
)
async def test_bad_search_queries_are_422(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    alice = await register(client)
    response = await client.get(f"{USERS}/users", params=params, headers=alice.headers)
    assert response.status_code == 422


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{USERS}/")
    assert response.status_code == 200
    assert response.json() == {"service": "user", "status": "ok"}
