from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from tests.support.users import register
from tests.user.actions import USERS, walk, write_post

MISSING = 2**63 - 1


async def test_post_is_created_trimmed_and_readable(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    post = await write_post(client, alice, "  \n hello, world \t ")
    assert {"id", "author_id", "author_username", "content", "created_at"} <= set(post)
    assert post["in_reply_to"] is None and post["mentions"] == []
    assert (post["replies"], post["likes"], post["reposts"]) == (0, 0, 0)
    assert post["liked"] is post["reposted"] is False
    assert post["author_id"] == alice.id
    assert post["author_username"] == alice.username
    assert post["content"] == "hello, world"
    datetime.fromisoformat(post["created_at"])
    read = await client.get(f"{USERS}/posts/{post['id']}", headers=alice.headers)
    assert read.status_code == 200
    assert read.json() == post


@pytest.mark.parametrize(
    "content",
    [
        "x",
        "x" * 500,
        "  " + "x" * 500 + "\n",  # 500 once trimmed
        "é" * 500,
        "😀" * 500,  # characters, not bytes
        "line one\nline two",
    ],
)
async def test_content_of_1_to_500_characters_after_trimming_is_accepted(
    client: httpx.AsyncClient, content: str
) -> None:
    alice = await register(client)
    post = await write_post(client, alice, content)
    assert post["content"] == content.strip()


@pytest.mark.parametrize(
    "body",
    [
        {"content": ""},
        {"content": "   "},
        {"content": " \n\t\r "},
        {"content": "x" * 501},
        {"content": " " + "😀" * 501},
        {"content": "x" * 50_000},  # refused by the cheap bound (a bigger body is 413)
        {"content": "nul \u0000 inside"},
        {"content": None},
        {"content": 42},
        {"content": ["x"]},
        {},
        {"content": "fine", "author_id": 1},  # nobody posts as someone else
    ],
)
async def test_bad_post_bodies_are_422(client: httpx.AsyncClient, body: object) -> None:
    alice = await register(client)
    response = await client.post(f"{USERS}/posts", json=body, headers=alice.headers)
    assert response.status_code == 422


async def test_malformed_post_json_and_lone_surrogates_are_422(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    headers = {**alice.headers, "content-type": "application/json"}
    for raw in (b'{"content": "\\ud800"}', b"{not json", b"", b"[]", b'"text"'):
        response = await client.post(f"{USERS}/posts", content=raw, headers=headers)
        assert response.status_code == 422, raw


async def test_missing_post_is_404(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    response = await client.get(f"{USERS}/posts/{MISSING}", headers=alice.headers)
    assert response.status_code == 404
    assert response.json() == {"detail": "no such post"}


@pytest.mark.parametrize("post_id", ["abc", "0", "-3", "1.5", str(2**63)])
async def test_bad_post_ids_are_422(client: httpx.AsyncClient, post_id: str) -> None:
    alice = await register(client)
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"{USERS}/posts/{post_id}", headers=alice.headers)
        assert response.status_code == 422, method


async def test_only_the_author_deletes_a_post(client: httpx.AsyncClient) -> None:
    alice, mallory = await register(client, "alice"), await register(client, "mallory")
    post = await write_post(client, alice, "mine")
    url = f"{USERS}/posts/{post['id']}"
    refused = await client.delete(url, headers=mallory.headers)
    assert refused.status_code == 403
    assert (await client.get(url, headers=alice.headers)).status_code == 200
    deleted = await client.delete(url, headers=alice.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    assert (await client.delete(url, headers=alice.headers)).status_code == 404
    assert (await client.delete(url, headers=mallory.headers)).status_code == 404


async def test_a_users_posts_newest_first_across_pages(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    written = [await write_post(client, alice, f"post {i}") for i in range(11)]
    await write_post(client, bob, "not alice's")
    for limit in (1, 4, 11, 20):
        listed = await walk(client, bob, f"/users/{alice.id}/posts", limit=limit)
        assert listed == written[::-1], limit


async def test_posts_of_an_unknown_user_are_404_and_of_a_quiet_one_empty(
    client: httpx.AsyncClient,
) -> None:
    alice = await register(client)
    missing = await client.get(f"{USERS}/users/{MISSING}/posts", headers=alice.headers)
    assert missing.status_code == 404
    quiet = await client.get(f"{USERS}/users/{alice.id}/posts", headers=alice.headers)
    assert quiet.json() == {"items": [], "next_cursor": None}
