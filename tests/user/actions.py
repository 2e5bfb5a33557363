"""What users do through the user service's API, for tests to read like behaviour."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.users import Account

USERS = "/users"  # where `gochat dev` mounts the user service


async def write_post(
    client: httpx.AsyncClient, author: Account, content: str, *, in_reply_to: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"content": content}
    if in_reply_to is not None:
        body["in_reply_to"] = in_reply_to
    response = await client.post(f"{USERS}/posts", json=body, headers=author.headers)
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


async def follow(client: httpx.AsyncClient, follower: Account, target_id: int) -> dict[str, Any]:
    response = await client.post(
        f"{USERS}/follow", params={"toFollowId": target_id}, headers=follower.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def profile(client: httpx.AsyncClient, viewer: Account, user_id: int) -> dict[str, Any]:
    response = await client.get(f"{USERS}/users/{user_id}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def walk(
    client: httpx.AsyncClient,
    viewer: Account,
    path: str,
    *,
    limit: int = 20,
    params: dict[str, Any] | None = None,
    max_pages: int = 500,
) -> list[dict[str, Any]]:
    """Every item of a paginated list, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(max_pages):
        query = {**(params or {}), "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get(f"{USERS}{path}", params=query, headers=viewer.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert page["items"], "a page with a next cursor must not be empty"
    raise AssertionError(f"{path} did not end within {max_pages} pages")


async def reply(
    client: httpx.AsyncClient, author: Account, parent_id: int, content: str
) -> dict[str, Any]:
    return await write_post(client, author, content, in_reply_to=parent_id)


async def act(
    client: httpx.AsyncClient, actor: Account, method: str, post_id: int, what: str
) -> dict[str, Any]:
    """`what` is "like" or "repost"; `method` POST or DELETE. The post as it is after."""
    response = await client.request(
        method, f"{USERS}/posts/{post_id}/{what}", headers=actor.headers
    )
    assert response.status_code == 200, response.text
    post: dict[str, Any] = response.json()
    return post


async def get_post(client: httpx.AsyncClient, viewer: Account, post_id: int) -> dict[str, Any]:
    response = await client.get(f"{USERS}/posts/{post_id}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    post: dict[str, Any] = response.json()
    return post
