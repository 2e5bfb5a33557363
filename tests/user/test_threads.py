"""Replies and threads: a reply counts on its parent, a thread shows the ancestors root
first and the direct replies oldest first, and a deleted post in the middle stays as a
tombstone with its replies reachable."""

from __future__ import annotations

import httpx

from tests.support.users import register
from tests.user.actions import USERS, get_post, reply, walk, write_post

MISSING = 2**63 - 1


async def test_a_reply_names_its_parent_and_counts_on_it(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    root = await write_post(client, alice, "root")
    answer = await reply(client, bob, root["id"], "answer")
    assert answer["in_reply_to"] == root["id"]
    assert (await get_post(client, alice, root["id"]))["replies"] == 1


async def test_replying_to_an_unknown_post_is_404_and_a_bad_id_422(
    client: httpx.AsyncClient,
) -> None:
    alice = await register(client)
    for parent, status in ((MISSING, 404), (0, 422), (-1, 422), ("x", 422), (2**63, 422)):
        response = await client.post(
            f"{USERS}/posts",
            json={"content": "hi", "in_reply_to": parent},
            headers=alice.headers,
        )
        assert response.status_code == status, (parent, response.text)
    gone = await write_post(client, alice, "soon gone")
    await client.delete(f"{USERS}/posts/{gone['id']}", headers=alice.headers)
    response = await client.post(
        f"{USERS}/posts", json={"content": "late", "in_reply_to": gone["id"]}, headers=alice.headers
    )
    assert response.status_code == 404


async def test_thread_shows_ancestors_root_first_and_replies_oldest_first_paged(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client), await register(client)
    root = await write_post(client, alice, "root")
    middle = await reply(client, bob, root["id"], "middle")
    leaf = await reply(client, alice, middle["id"], "leaf")
    answers = [await reply(client, bob, leaf["id"], f"answer {i}") for i in range(5)]

    response = await client.get(
        f"{USERS}/posts/{leaf['id']}/thread", params={"limit": 2}, headers=bob.headers
    )
    assert response.status_code == 200
    thread = response.json()
    assert [p["id"] for p in thread["ancestors"]] == [root["id"], middle["id"]]
    assert thread["post"]["id"] == leaf["id"] and thread["post"]["replies"] == 5
    assert [p["id"] for p in thread["replies"]["items"]] == [a["id"] for a in answers[:2]]
    seen = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (
            await client.get(
                f"{USERS}/posts/{leaf['id']}/thread", params=params, headers=bob.headers
            )
        ).json()["replies"]
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [a["id"] for a in answers]


async def test_a_deleted_middle_post_is_a_tombstone_and_its_replies_stay(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client), await register(client)
    root = await write_post(client, alice, "root")
    middle = await reply(client, bob, root["id"], "middle")
    leaf = await reply(client, alice, middle["id"], "leaf")
    assert (
        await client.delete(f"{USERS}/posts/{middle['id']}", headers=bob.headers)
    ).status_code == 204

    assert (await get_post(client, alice, root["id"]))["replies"] == 0
    assert (
        await client.get(f"{USERS}/posts/{middle['id']}", headers=alice.headers)
    ).status_code == 404
    thread = (await client.get(f"{USERS}/posts/{leaf['id']}/thread", headers=alice.headers)).json()
    assert thread["ancestors"][0]["id"] == root["id"]
    assert thread["ancestors"][1] == {
        "id": middle["id"],
        "deleted": True,
        "in_reply_to": root["id"],
    }
    # From the root, the tombstone is still a reply, and from it the leaf.
    from_root = (
        await client.get(f"{USERS}/posts/{root['id']}/thread", headers=alice.headers)
    ).json()
    assert from_root["replies"]["items"] == [
        {"id": middle["id"], "deleted": True, "in_reply_to": root["id"]}
    ]
    tomb = (await client.get(f"{USERS}/posts/{middle['id']}/thread", headers=alice.headers)).json()
    assert tomb["post"]["deleted"] is True
    assert [p["id"] for p in tomb["replies"]["items"]] == [leaf["id"]]


async def test_thread_of_an_unknown_post_is_404(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    response = await client.get(f"{USERS}/posts/{MISSING}/thread", headers=alice.headers)
    assert response.status_code == 404
    deleted = await write_post(client, alice, "no replies")
    await client.delete(f"{USERS}/posts/{deleted['id']}", headers=alice.headers)
    response = await client.get(f"{USERS}/posts/{deleted['id']}/thread", headers=alice.headers)
    assert response.status_code == 404


async def test_replies_appear_in_the_authors_list(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    root = await write_post(client, alice, "root")
    answer = await reply(client, bob, root["id"], "answer")
    listed = await walk(client, alice, f"/users/{bob.id}/posts")
    assert [p["id"] for p in listed] == [answer["id"]]
    assert listed[0]["in_reply_to"] == root["id"]
