"""Notifications: one for each kind, none for your own actions, taken back when the action
is undone, gone with the post or the account that caused them; read marks and unread
counts."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.users import Account, register
from tests.user.actions import USERS, act, follow, get_post, reply, walk, write_post


async def inbox(client: httpx.AsyncClient, who: Account) -> list[dict[str, Any]]:
    return await walk(client, who, "/notifications")


async def unread(client: httpx.AsyncClient, who: Account) -> int:
    response = await client.get(f"{USERS}/notifications/unread", headers=who.headers)
    assert response.status_code == 200
    count: int = response.json()["unread"]
    return count


async def test_each_kind_arrives_newest_first_with_who_and_what(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client), await register(client)
    post = await write_post(client, alice, "hello")
    await follow(client, bob, alice.id)
    await act(client, bob, "POST", post["id"], "like")
    await act(client, bob, "POST", post["id"], "repost")
    answer = await reply(client, bob, post["id"], "hi back")
    mention = await write_post(client, bob, f"look @{alice.username}")

    items = await inbox(client, alice)
    assert [(n["kind"], n["post"] and n["post"]["id"]) for n in items] == [
        ("mention", mention["id"]),
        ("reply", answer["id"]),
        ("repost", post["id"]),
        ("like", post["id"]),
        ("follow", None),
    ]
    assert all(n["actor"] == {"id": bob.id, "username": bob.username} for n in items)
    assert all(n["unread"] for n in items)
    assert items[3]["post"]["likes"] == 1  # countable: "bob and 0 others"
    assert await unread(client, alice) == 5
    assert await inbox(client, bob) == []


async def test_none_for_your_own_actions(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    post = await write_post(client, alice, f"me, @{alice.username}")
    await act(client, alice, "POST", post["id"], "like")
    await act(client, alice, "POST", post["id"], "repost")
    await reply(client, alice, post["id"], "talking to myself")
    assert await inbox(client, alice) == []
    assert await unread(client, alice) == 0


async def test_a_reply_that_mentions_the_parent_author_notifies_once(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client), await register(client)
    post = await write_post(client, alice, "hello")
    await reply(client, bob, post["id"], f"@{alice.username} hi")
    assert [n["kind"] for n in await inbox(client, alice)] == ["reply"]


async def test_undoing_takes_the_notification_back(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    post = await write_post(client, alice, "hello")
    await follow(client, bob, alice.id)
    await act(client, bob, "POST", post["id"], "like")
    await act(client, bob, "POST", post["id"], "repost")
    await act(client, bob, "DELETE", post["id"], "like")
    await act(client, bob, "DELETE", post["id"], "repost")
    await client.post(f"{USERS}/unfollow", params={"toUnfollowId": alice.id}, headers=bob.headers)
    assert await inbox(client, alice) == []


async def test_read_marks_move_forward_only(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    fans = [await register(client, "fan") for _ in range(3)]
    for fan in fans:
        await follow(client, fan, alice.id)
    items = await inbox(client, alice)
    middle = items[1]["id"]
    response = await client.post(
        f"{USERS}/notifications/read", params={"upTo": middle}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.json() == {"read_up_to": middle, "unread": 1}
    assert [n["unread"] for n in await inbox(client, alice)] == [True, False, False]
    back = await client.post(
        f"{USERS}/notifications/read", params={"upTo": 1}, headers=alice.headers
    )
    assert back.json() == {"read_up_to": middle, "unread": 1}
    everything = await client.post(f"{USERS}/notifications/read", headers=alice.headers)
    assert everything.json()["unread"] == 0
    for bad in ("-1", "x", str(2**63)):
        refused = await client.post(
            f"{USERS}/notifications/read", params={"upTo": bad}, headers=alice.headers
        )
        assert refused.status_code == 422


async def test_deleting_the_post_or_the_actor_removes_notifications(
    client: httpx.AsyncClient,
) -> None:
    alice, bob, carol = [await register(client) for _ in range(3)]
    post = await write_post(client, alice, "hello")
    await act(client, bob, "POST", post["id"], "like")
    await act(client, carol, "POST", post["id"], "like")
    await follow(client, carol, alice.id)
    assert len(await inbox(client, alice)) == 3
    assert (await client.delete(f"{USERS}/delete", headers=carol.headers)).status_code == 204
    assert [n["actor"]["id"] for n in await inbox(client, alice)] == [bob.id]
    assert (await get_post(client, alice, post["id"]))["likes"] == 1
    await client.delete(f"{USERS}/posts/{post['id']}", headers=alice.headers)
    assert await inbox(client, alice) == []


async def test_notification_endpoints_need_a_token(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/notifications"),
        ("GET", "/notifications/unread"),
        ("POST", "/notifications/read"),
    ):
        response = await client.request(method, f"{USERS}{path}")
        assert response.status_code == 401


async def stand_between(
    client: httpx.AsyncClient, who: Account, action: str, other: Account
) -> None:
    param = {"block": "toBlockId", "mute": "toMuteId"}[action]
    response = await client.post(f"{USERS}/{action}", params={param: other.id}, headers=who.headers)
    assert response.status_code == 200, response.text


async def test_none_from_someone_muted_or_across_a_block(client: httpx.AsyncClient) -> None:
    alice, muted, blocked, blocker = [await register(client) for _ in range(4)]
    post = await write_post(client, alice, "hello")
    await stand_between(client, alice, "mute", muted)
    await stand_between(client, alice, "block", blocked)
    await stand_between(client, blocker, "block", alice)
    await act(client, muted, "POST", post["id"], "like")
    await act(client, muted, "POST", post["id"], "repost")
    for actor in (blocked, blocker):  # across a block a like or repost is refused outright
        for what in ("like", "repost"):
            refused = await client.post(f"{USERS}/posts/{post['id']}/{what}", headers=actor.headers)
            assert refused.status_code == 403, refused.text
    await write_post(client, muted, f"hey @{alice.username}")
    await write_post(client, blocker, f"hey @{alice.username}")
    await follow(client, muted, alice.id)
    assert await inbox(client, alice) == []
    assert await unread(client, alice) == 0

    # Anyone else still reaches her, and the mute changed nothing for the muted person.
    bob = await register(client)
    await act(client, bob, "POST", post["id"], "like")
    await write_post(client, alice, f"and you, @{muted.username}")
    assert [(n["kind"], n["actor"]["id"]) for n in await inbox(client, alice)] == [("like", bob.id)]
    assert [n["kind"] for n in await inbox(client, muted)] == ["mention"]


async def test_a_reply_across_a_block_is_refused(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    post = await write_post(client, alice, "hello")
    await stand_between(client, alice, "block", bob)
    for who, parent in ((bob, post["id"]), (alice, (await write_post(client, bob, "mine"))["id"])):
        response = await client.post(
            f"{USERS}/posts",
            json={"content": "hi", "in_reply_to": parent},
            headers=who.headers,
        )
        assert response.status_code == 403, response.text
        assert response.json()["detail"] == "a block stands between you and this post's author"
    assert (await get_post(client, alice, post["id"]))["replies"] == 0
