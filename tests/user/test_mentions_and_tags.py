"""Mentions are recognised for users that exist and stored with offsets; hashtags are
stored lower-cased and page their posts newest first."""

from __future__ import annotations

import httpx

from tests.support.users import register
from tests.user.actions import USERS, get_post, walk, write_post


async def test_mentions_of_existing_users_carry_offsets(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    content = f"hi @{bob.username.upper()} and @nobody_{bob.username} and me@{alice.username}"
    post = await write_post(client, alice, content)
    assert len(post["mentions"]) == 1
    mention = post["mentions"][0]
    assert mention["user_id"] == bob.id and mention["username"] == bob.username
    assert content[mention["start"] : mention["end"]] == f"@{bob.username.upper()}"
    assert (await get_post(client, bob, post["id"]))["mentions"] == post["mentions"]
    feed = await walk(client, alice, "/feed")
    assert feed[0]["mentions"] == post["mentions"]


async def test_an_unknown_name_is_plain_text(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    post = await write_post(client, alice, "hello @no_such_user_here_at_all")
    assert post["mentions"] == []


async def test_tag_pages_its_posts_newest_first_in_any_case(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client), await register(client)
    tag = f"Topic{alice.id}"
    tagged = [
        await write_post(client, alice, f"one #{tag}"),
        await write_post(client, bob, f"two #{tag.lower()}!"),
        await write_post(client, alice, f"three #{tag.upper()} #{tag}"),
    ]
    await write_post(client, alice, f"not a tag: a#{tag} or #{tag}x")
    for asked in (tag, tag.lower(), tag.upper()):
        listed = await walk(client, bob, f"/tags/{asked}/posts", limit=2)
        assert [p["id"] for p in listed] == [p["id"] for p in reversed(tagged)]


async def test_unicode_tags_and_bad_tags(client: httpx.AsyncClient) -> None:
    alice = await register(client)
    post = await write_post(client, alice, f"#Café{alice.id} ok")
    listed = await walk(client, alice, f"/tags/café{alice.id}/posts")
    assert [p["id"] for p in listed] == [post["id"]]
    assert await walk(client, alice, "/tags/nothing_here_zz/posts") == []
    for bad in ("a-b", "x" * 101, "%20"):
        response = await client.get(f"{USERS}/tags/{bad}/posts", headers=alice.headers)
        assert response.status_code == 422, bad
