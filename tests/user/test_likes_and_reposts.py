"""Likes and reposts: idempotent, race-safe, counted, shown to the caller; reposts in the
home feed once, at the newest repost, own posts included."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.users import register
from tests.user.actions import USERS, act, follow, get_post, walk, write_post

MISSING = 2**63 - 1


@pytest.mark.parametrize("what", ["like", "repost"])
async def test_twice_is_once_and_undoing_twice_is_fine(
    client: httpx.AsyncClient, what: str
) -> None:
    alice, bob = await register(client), await register(client)
    post = await write_post(client, alice, "hello")
    count, flag = f"{what}s", f"{what}d" if what == "like" else "reposted"
    for _ in range(2):
        after = await act(client, bob, "POST", post["id"], what)
        assert after[count] == 1 and after[flag] is True
    assert (await get_post(client, alice, post["id"]))[flag] is False  # for alice: not hers
    for _ in range(2):
        after = await act(client, bob, "DELETE", post["id"], what)
        assert after[count] == 0 and after[flag] is False


@pytest.mark.parametrize("what", ["like", "repost"])
async def test_twenty_concurrent_identical_requests_make_one(
    client: httpx.AsyncClient, what: str
) -> None:
    alice, bob = await register(client), await register(client)
    post = await write_post(client, alice, "popular")
    url = f"{USERS}/posts/{post['id']}/{what}"
    responses = await asyncio.gather(*(client.post(url, headers=bob.headers) for _ in range(20)))
    assert {r.status_code for r in responses} == {200}
    assert (await get_post(client, alice, post["id"]))[f"{what}s"] == 1
    # Likes and unlikes racing end consistent: the count is the number of rows.
    responses = await asyncio.gather(
        *(
            client.request("POST" if i % 2 else "DELETE", url, headers=bob.headers)
            for i in range(20)
        )
    )
    assert {r.status_code for r in responses} == {200}
    final = await get_post(client, bob, post["id"])
    flag = "liked" if what == "like" else "reposted"
    assert final[f"{what}s"] == (1 if final[flag] else 0)
    if what == "like":
        likers = await walk(client, alice, f"/posts/{post['id']}/likes")
        assert len(likers) == final["likes"]


async def test_likes_list_pages_the_people_who_like_a_post(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    fans = [await register(client, "fan") for _ in range(5)]
    post = await write_post(client, alice, "like me")
    for fan in fans:
        await act(client, fan, "POST", post["id"], "like")
    likers = await walk(client, alice, f"/posts/{post['id']}/likes", limit=2)
    assert [u["id"] for u in likers] == sorted((f.id for f in fans), reverse=True)
    assert {"id", "username", "created_at", "liked_at"} <= set(likers[0])


@pytest.mark.parametrize("method", ["POST", "DELETE"])
@pytest.mark.parametrize("what", ["like", "repost"])
async def test_an_unknown_post_is_404_and_a_bad_id_422(
    client: httpx.AsyncClient, method: str, what: str
) -> None:
    alice = await register(client)
    for post_id, status in ((MISSING, 404), (0, 422), ("x", 422)):
        response = await client.request(
            method, f"{USERS}/posts/{post_id}/{what}", headers=alice.headers
        )
        assert response.status_code == status
    response = await client.get(f"{USERS}/posts/{MISSING}/likes", headers=alice.headers)
    assert response.status_code == 404


async def test_a_repost_shows_in_followers_feeds_once_at_the_newest_repost(
    client: httpx.AsyncClient,
) -> None:
    reader, author, first, second, stranger = [await register(client) for _ in range(5)]
    await follow(client, reader, first.id)
    await follow(client, reader, second.id)
    await follow(client, reader, author.id)
    original = await write_post(client, author, "worth sharing")
    mine = await write_post(client, reader, "my own")
    await act(client, first, "POST", original["id"], "repost")
    await act(client, stranger, "POST", original["id"], "repost")  # not followed: unseen
    later = await write_post(client, first, "later")
    await act(client, second, "POST", original["id"], "repost")
    await act(client, first, "POST", mine["id"], "repost")  # my own post, reposted

    feed = await walk(client, reader, "/feed", limit=2)
    assert [p["id"] for p in feed] == [mine["id"], original["id"], later["id"]]
    assert feed[0]["reposted_by"] == {"id": first.id, "username": first.username}
    assert feed[1]["reposted_by"] == {"id": second.id, "username": second.username}
    assert feed[1]["reposts"] == 3 and feed[1]["author_id"] == author.id
    assert feed[2]["reposted_by"] is None and feed[2]["reposted_at"] is None

    # Undone, the post falls back to its earlier repost.
    await act(client, second, "DELETE", original["id"], "repost")
    feed = await walk(client, reader, "/feed")
    assert [(p["id"], (p["reposted_by"] or {}).get("id")) for p in feed] == [
        (mine["id"], first.id),
        (later["id"], None),
        (original["id"], first.id),
    ]
    # The reposter's own list shows the repost too.
    theirs = await walk(client, reader, f"/users/{first.id}/posts")
    assert [p["id"] for p in theirs] == [mine["id"], later["id"], original["id"]]


async def test_deleting_a_post_removes_its_likes_and_reposts(client: httpx.AsyncClient) -> None:
    author, fan = await register(client), await register(client)
    post = await write_post(client, author, "short-lived")
    await act(client, fan, "POST", post["id"], "like")
    await act(client, fan, "POST", post["id"], "repost")
    await client.delete(f"{USERS}/posts/{post['id']}", headers=author.headers)
    assert await walk(client, fan, f"/users/{fan.id}/posts") == []
    assert await walk(client, fan, "/feed") == []
