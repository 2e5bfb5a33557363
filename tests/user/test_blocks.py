"""`/block`, `/unblock`, `/mute`, `/unmute`, `/blocks`, `/mutes` and what they change."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.users import Account, register
from tests.user.actions import USERS, follow, profile, walk, write_post

MISSING_USER = 2**63 - 1


async def act(
    client: httpx.AsyncClient, who: Account, action: str, target_id: int, expect: int = 200
) -> dict[str, Any]:
    name = {"block": "toBlockId", "unblock": "toUnblockId", "mute": "toMuteId"}.get(
        action, "toUnmuteId"
    )
    response = await client.post(f"{USERS}/{action}", params={name: target_id}, headers=who.headers)
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def feed_contents(client: httpx.AsyncClient, reader: Account, limit: int) -> list[str]:
    return [post["content"] for post in await walk(client, reader, "/feed", limit=limit)]


async def test_block_answers_the_block_and_is_idempotent(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    first = await act(client, alice, "block", bob.id)
    assert first["blocker_id"] == alice.id and first["blocked_id"] == bob.id
    assert first["blocking"] is True
    datetime.fromisoformat(first["created_at"])
    assert await act(client, alice, "block", bob.id) == first
    for _ in range(2):
        undone = await act(client, alice, "unblock", bob.id)
        assert undone == {
            "blocker_id": alice.id,
            "blocked_id": bob.id,
            "blocking": False,
            "created_at": None,
        }


async def test_concurrent_identical_blocks_and_mutes_never_fail(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client), await register(client)
    for action in ("block", "mute"):
        answers = await asyncio.gather(*(act(client, alice, action, bob.id) for _ in range(8)))
        assert len({answer["created_at"] for answer in answers}) == 1


@pytest.mark.parametrize("action", ["block", "unblock", "mute", "unmute"])
async def test_yourself_is_400_an_unknown_user_404_no_id_422(
    client: httpx.AsyncClient, action: str
) -> None:
    alice = await register(client)
    await act(client, alice, action, alice.id, expect=400)
    await act(client, alice, action, MISSING_USER, expect=404)
    response = await client.post(f"{USERS}/{action}", headers=alice.headers)
    assert response.status_code == 422


async def test_a_block_ends_follows_both_ways_and_refuses_new_ones(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client), await register(client)
    await follow(client, alice, bob.id)
    await follow(client, bob, alice.id)
    await act(client, alice, "block", bob.id)
    assert (await profile(client, alice, alice.id))["followers"] == 0
    assert (await profile(client, alice, alice.id))["following"] == 0
    for follower, followed in ((alice, bob), (bob, alice)):
        refused = await client.post(
            f"{USERS}/follow", params={"toFollowId": followed.id}, headers=follower.headers
        )
        assert refused.status_code == 403
        assert refused.json() == {"detail": "a block stands between you and this user"}
    await act(client, alice, "unblock", bob.id)
    await follow(client, bob, alice.id)  # allowed again


@pytest.mark.parametrize("limit", [1, 20])  # a full page in the window, and the per-author plan
async def test_a_block_hides_each_from_the_others_feed_and_post_lists(
    client: httpx.AsyncClient, limit: int
) -> None:
    alice, bob = await register(client), await register(client)
    await follow(client, alice, bob.id)
    await follow(client, bob, alice.id)
    await write_post(client, alice, "alice 1")
    await write_post(client, bob, "bob 1")
    await write_post(client, alice, "alice 2")
    assert await feed_contents(client, alice, limit) == ["alice 2", "bob 1", "alice 1"]
    await act(client, bob, "block", alice.id)
    assert await feed_contents(client, alice, limit) == ["alice 2", "alice 1"]
    assert await feed_contents(client, bob, limit) == ["bob 1"]
    assert await walk(client, alice, f"/users/{bob.id}/posts", limit=limit) == []
    assert await walk(client, bob, f"/users/{alice.id}/posts", limit=limit) == []
    own = await walk(client, alice, f"/users/{alice.id}/posts", limit=limit)
    assert [post["content"] for post in own] == ["alice 2", "alice 1"]


@pytest.mark.parametrize("limit", [1, 20])
async def test_a_mute_hides_only_the_muted_persons_posts_from_my_feed(
    client: httpx.AsyncClient, limit: int
) -> None:
    alice, bob, carol = [await register(client) for _ in range(3)]
    for followed in (bob, carol):
        await follow(client, alice, followed.id)
    await follow(client, bob, alice.id)
    await write_post(client, bob, "bob")
    await write_post(client, carol, "carol")
    await write_post(client, alice, "alice")
    await act(client, alice, "mute", bob.id)
    assert await feed_contents(client, alice, limit) == ["alice", "carol"]
    assert await feed_contents(client, bob, limit) == ["alice", "bob"]  # bob sees alice
    assert len(await walk(client, alice, f"/users/{bob.id}/posts")) == 1  # not a block
    assert (await profile(client, alice, bob.id))["followers"] == 1  # still following
    await act(client, alice, "unmute", bob.id)
    assert await feed_contents(client, alice, limit) == ["alice", "carol", "bob"]


async def test_blocks_and_mutes_list_whom_i_blocked_or_muted(client: httpx.AsyncClient) -> None:
    me = await register(client)
    others = [await register(client) for _ in range(3)]
    for other in others:
        await act(client, me, "block", other.id)
    await act(client, me, "mute", others[0].id)
    await act(client, others[1], "block", me.id)  # being blocked is not in my list
    blocks = await walk(client, me, "/blocks", limit=2)
    assert [entry["id"] for entry in blocks] == sorted((o.id for o in others), reverse=True)
    assert set(blocks[0]) == {"id", "username", "created_at", "since"}
    mutes = await walk(client, me, "/mutes")
    assert [(entry["id"], entry["username"]) for entry in mutes] == [
        (others[0].id, others[0].username)
    ]
    bad = await client.get(f"{USERS}/blocks", params={"cursor": "nope"}, headers=me.headers)
    assert bad.status_code == 422


async def contents(client: httpx.AsyncClient, viewer: Account, path: str, limit: int) -> list[str]:
    return [post["content"] for post in await walk(client, viewer, path, limit=limit)]


@pytest.mark.parametrize("limit", [1, 20])  # a full page in the window, and the per-author plan
@pytest.mark.parametrize("relation", ["mute", "block", "blocked by"])
async def test_someone_muted_or_across_a_block_stays_out_of_reposts_tags_and_replies(
    client: httpx.AsyncClient, limit: int, relation: str
) -> None:
    """Alice follows Bob, who reposts Carol and replies next to her. Once Alice mutes Carol,
    blocks her or is blocked by her, Carol's post stays out of Alice's feed (Bob's repost of
    it included), out of Bob's post list as Alice sees it, out of the tag's page and out of
    the replies of a thread; everyone else sees what they saw."""
    alice, bob, carol, dave = [await register(client) for _ in range(4)]
    await follow(client, alice, bob.id)
    tag = f"t{bob.id}"
    carols = await write_post(client, carol, f"carol #{tag}")
    await write_post(client, bob, f"bob #{tag}")
    await act_on_post(client, bob, carols["id"], "repost")
    root = await write_post(client, dave, "root")
    await write_post(client, carol, "carol reply", in_reply_to=root["id"])
    await write_post(client, bob, "bob reply", in_reply_to=root["id"])

    def views(viewer: Account) -> list[Any]:
        return [
            contents(client, viewer, "/feed", limit),
            contents(client, viewer, f"/users/{bob.id}/posts", limit),
            contents(client, viewer, f"/tags/{tag}/posts", limit),
            thread_replies(client, viewer, root["id"], limit),
        ]

    seen = [
        ["bob reply", f"carol #{tag}", f"bob #{tag}"],
        ["bob reply", f"carol #{tag}", f"bob #{tag}"],
        [f"bob #{tag}", f"carol #{tag}"],
        ["carol reply", "bob reply"],
    ]
    assert await asyncio.gather(*views(alice)) == seen
    feed = await walk(client, alice, "/feed", limit=limit)
    assert feed[1]["reposted_by"] == {"id": bob.id, "username": bob.username}
    owner, target, do, undo = {
        "mute": (alice, carol, "mute", "unmute"),
        "block": (alice, carol, "block", "unblock"),
        "blocked by": (carol, alice, "block", "unblock"),
    }[relation]
    await act(client, owner, do, target.id)
    assert await asyncio.gather(*views(alice)) == [
        ["bob reply", f"bob #{tag}"],
        ["bob reply", f"bob #{tag}"],
        [f"bob #{tag}"],
        ["bob reply"],
    ]
    assert (await asyncio.gather(*views(dave)))[1:] == seen[1:]  # nobody else is affected
    await act(client, owner, undo, target.id)
    assert await asyncio.gather(*views(alice)) == seen


async def act_on_post(client: httpx.AsyncClient, who: Account, post_id: int, what: str) -> None:
    response = await client.post(f"{USERS}/posts/{post_id}/{what}", headers=who.headers)
    assert response.status_code == 200, response.text


async def thread_replies(
    client: httpx.AsyncClient, viewer: Account, post_id: int, limit: int
) -> list[str]:
    """Every reply of the thread, page after page."""
    found: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(100):
        response = await client.get(
            f"{USERS}/posts/{post_id}/thread", params=params, headers=viewer.headers
        )
        assert response.status_code == 200, response.text
        page = response.json()["replies"]
        found.extend(reply["content"] for reply in page["items"])
        if page["next_cursor"] is None:
            return found
        params["cursor"] = page["next_cursor"]
    raise AssertionError("the thread's replies did not end")


async def test_no_like_or_repost_across_a_block_but_taking_one_back_works(
    client: httpx.AsyncClient,
) -> None:
    """As a reply across a block is refused, so are a like and a repost, either way (the
    repost would carry the post to the reposter's followers); undoing one is never refused."""
    alice, bob = await register(client), await register(client)
    post = await write_post(client, alice, "alice")
    for what in ("like", "repost"):
        await act_on_post(client, bob, post["id"], what)  # before the block
    await act(client, alice, "block", bob.id)
    bobs = await write_post(client, bob, "bob")
    for who, target in ((bob, post), (alice, bobs)):
        for what in ("like", "repost"):
            refused = await client.post(f"{USERS}/posts/{target['id']}/{what}", headers=who.headers)
            assert refused.status_code == 403, refused.text
            assert refused.json() == {"detail": "a block stands between you and this post's author"}
    for what in ("like", "repost"):
        undone = await client.delete(f"{USERS}/posts/{post['id']}/{what}", headers=bob.headers)
        assert undone.status_code == 200, undone.text
    assert (undone.json()["likes"], undone.json()["reposts"]) == (0, 0)
