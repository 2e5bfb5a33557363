from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.models import Post, utcnow
from tests.support.users import Account, register
from tests.user.actions import USERS, follow, walk, write_post
from user_service.feed.queries import RECENT_WINDOW, per_author_statement, window_statement


async def feed_ids(client: httpx.AsyncClient, reader: Account, limit: int = 20) -> list[int]:
    return [post["id"] for post in await walk(client, reader, "/feed", limit=limit)]


async def test_feed_is_own_and_followed_posts_newest_first(client: httpx.AsyncClient) -> None:
    reader, friend, stranger = [await register(client) for _ in range(3)]
    await follow(client, reader, friend.id)
    await follow(client, stranger, reader.id)  # being followed adds nothing to one's feed
    mine = await write_post(client, reader, "mine")
    theirs = await write_post(client, friend, "friend's")
    await write_post(client, stranger, "stranger's")
    later = await write_post(client, reader, "mine, later")
    feed = await walk(client, reader, "/feed")
    assert feed == [later, theirs, mine]
    assert await feed_ids(client, friend) == [theirs["id"]]


async def test_feed_follows_the_follow_list(client: httpx.AsyncClient) -> None:
    reader, friend = await register(client), await register(client)
    old = [await write_post(client, friend, f"old {i}") for i in range(3)]
    assert await feed_ids(client, reader) == []
    await follow(client, reader, friend.id)  # older posts appear once followed
    assert await feed_ids(client, reader) == [p["id"] for p in reversed(old)]
    response = await client.post(
        f"{USERS}/unfollow", params={"toUnfollowId": friend.id}, headers=reader.headers
    )
    assert response.status_code == 200
    assert await feed_ids(client, reader) == []


async def test_feed_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{USERS}/feed")).status_code == 401


async def test_feed_finds_followed_posts_older_than_the_recent_window(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    """On PostgreSQL the first attempt looks only at the newest posts; when followed
    authors are quiet the per-author plan must still find everything, in order."""
    reader, quiet, chatty = [await register(client) for _ in range(3)]
    await follow(client, reader, quiet.id)
    old = [await write_post(client, quiet, f"long ago {i}") for i in range(5)]
    now = utcnow()
    async with db_engine.begin() as conn:
        await conn.execute(
            insert(Post),
            [
                {"author_id": chatty.id, "content": f"noise {i}", "created_at": now}
                for i in range(RECENT_WINDOW + 50)
            ],
        )
    recent = await write_post(client, reader, "mine, after all that noise")
    expected = [recent["id"], *(p["id"] for p in reversed(old))]
    for limit in (1, 2, 20):
        assert await feed_ids(client, reader, limit=limit) == expected, limit
    # The reader now goes straight to the per-author plan for a while: new posts still lead.
    fresh = [await write_post(client, quiet, f"back again {i}") for i in range(3)]
    expected = [*(p["id"] for p in reversed(fresh)), *expected]
    for limit in (1, 20):
        assert await feed_ids(client, reader, limit=limit) == expected, limit


async def test_walking_the_feed_while_posts_arrive_skips_and_repeats_nothing(
    client: httpx.AsyncClient,
) -> None:
    reader = await register(client, "reader")
    authors = [await register(client, "author") for _ in range(3)]
    for author in authors:
        await follow(client, reader, author.id)
    everyone = [reader, *authors]

    async def write_many(count: int, tag: str) -> list[dict[str, Any]]:
        written: list[dict[str, Any]] = []
        for start in range(0, count, 20):  # 20 at a time, in parallel
            batch = range(start, min(start + 20, count))
            written += await asyncio.gather(
                *(write_post(client, everyone[i % 4], f"{tag} {i}") for i in batch)
            )
        return written

    before_walk = {post["id"] for post in await write_many(300, "before")}

    async def write_during_walk() -> list[dict[str, Any]]:
        written = []
        for i in range(60):
            written.append(await write_post(client, everyone[i % 4], f"during {i}"))
            await asyncio.sleep(0)
        return written

    walked, during = await asyncio.gather(feed_ids(client, reader, limit=7), write_during_walk())
    assert walked == sorted(walked, reverse=True)
    assert len(walked) == len(set(walked)), "an item was repeated"
    assert before_walk <= set(walked), "an item was skipped"
    assert set(walked) <= before_walk | {post["id"] for post in during}


async def test_the_per_author_plan_pages_as_the_walk_of_every_post_does(
    client: httpx.AsyncClient, db_engine: AsyncEngine, on_postgresql: bool
) -> None:
    """PostgreSQL's per-author plan reads only the authors whose newest shown post could be
    on the page; every page it gives, from every cursor, must be the page a walk over every
    post gives, with reposts, their duplicates, a mute and a block in the mix."""
    if not on_postgresql:
        pytest.skip("the per-author plan is PostgreSQL's")
    rng = random.Random(15)
    reader = await register(client, "reader")
    authors = [await register(client, "author") for _ in range(9)]
    muted, blocked = authors[-2:]
    for author in authors:
        await follow(client, reader, author.id)
    everyone = [reader, *authors]
    posts: list[int] = []
    for i in range(60):  # uneven: some write often, some twice, one never
        author = everyone[min(int(rng.expovariate(0.4)), len(everyone) - 2)]
        posts.append((await write_post(client, author, f"post {i}"))["id"])
        if i % 3 == 2:  # a repost by a followee of an earlier post, some twice over
            reposter, post_id = rng.choice(authors[:7]), rng.choice(posts)
            response = await client.post(
                f"{USERS}/posts/{post_id}/repost", headers=reposter.headers
            )
            assert response.status_code in (200, 403, 404), response.text
    for action, target in (("mute", "toMuteId"), ("block", "toBlockId")):
        who = muted if action == "mute" else blocked
        response = await client.post(
            f"{USERS}/{action}", params={target: who.id}, headers=reader.headers
        )
        assert response.status_code == 200, response.text

    async def page(plan: str, before: int | None, limit: int) -> list[int]:
        if plan == "per_author":
            statement = per_author_statement(user_id=reader.id, before=before, limit=limit)
        else:
            statement = window_statement(user_id=reader.id, before=before, limit=limit, window=None)
        async with db_engine.connect() as conn:
            return [row.event_id for row in await conn.execute(statement)]

    walked = await page("whole", None, 1_000)
    assert len(walked) > 40, walked  # the mix above leaves a long feed
    for limit in (1, 2, 3, 5, 20):
        for before in (None, *walked[::3]):
            assert await page("per_author", before, limit) == await page("whole", before, limit)
