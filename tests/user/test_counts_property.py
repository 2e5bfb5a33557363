"""The counts a post shows equal a direct count of its likes, reposts and replies after any
sequence of likes, unlikes, reposts, unreposts, replies, deletions of posts and of an
account (property-based: hypothesis draws the sequences)."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.models import Post, PostLike
from tests.support.users import register
from tests.user.actions import USERS, write_post

PEOPLE = 3
ACTIONS = ["like", "unlike", "repost", "unrepost", "reply", "delete"]

steps = st.lists(
    st.tuples(
        st.sampled_from(ACTIONS),
        st.integers(0, PEOPLE - 1),  # who acts
        st.integers(0, 7),  # on which post (of those written so far)
    ),
    min_size=1,
    max_size=25,
)


async def direct_counts(engine: AsyncEngine, post_id: int) -> dict[str, int]:
    async with engine.connect() as conn:

        async def count(statement: object) -> int:
            return int(await conn.scalar(statement) or 0)  # type: ignore[call-overload]

        return {
            "likes": await count(
                select(func.count()).select_from(PostLike).where(PostLike.post_id == post_id)
            ),
            "reposts": await count(
                select(func.count()).select_from(Post).where(Post.repost_of_id == post_id)
            ),
            "replies": await count(
                select(func.count()).select_from(Post).where(Post.in_reply_to_id == post_id)
            ),
        }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps, delete_account=st.booleans())
async def test_counts_equal_a_direct_count(
    client: httpx.AsyncClient,
    db_engine: AsyncEngine,
    steps: list[tuple[str, int, int]],
    delete_account: bool,
) -> None:
    people = [await register(client, "prop") for _ in range(PEOPLE)]
    posts = [(await write_post(client, person, "start"))["id"] for person in people]
    for action, who, which in steps:
        actor, post_id = people[who], posts[which % len(posts)]
        url = f"{USERS}/posts/{post_id}"
        if action == "reply":
            response = await client.post(
                f"{USERS}/posts",
                json={"content": "re", "in_reply_to": post_id},
                headers=actor.headers,
            )
            if response.status_code == 201:
                posts.append(response.json()["id"])
        elif action == "delete":
            response = await client.delete(url, headers=actor.headers)
        else:
            method = "DELETE" if action.startswith("un") else "POST"
            response = await client.request(
                method, f"{url}/{action.removeprefix('un')}", headers=actor.headers
            )
        assert response.status_code in (200, 201, 204, 403, 404), response.text
    if delete_account:
        response = await client.delete(f"{USERS}/delete", headers=people[0].headers)
        assert response.status_code == 204
    viewer = people[-1]
    for post_id in posts:
        response = await client.get(f"{USERS}/posts/{post_id}", headers=viewer.headers)
        if response.status_code == 404:
            continue
        shown = response.json()
        expected = await direct_counts(db_engine, post_id)
        assert {key: shown[key] for key in expected} == expected, post_id
