"""Who may call what: a live token for everything but `/`; cookies only from our origins."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from shared.models import utcnow
from shared.settings import Settings
from tests.support.servers import ThreadServer
from tests.support.users import register
from tests.user.actions import USERS, write_post
from user_service.app import create_app

ENDPOINTS = [
    ("DELETE", "/delete"),
    ("POST", "/follow?toFollowId=1"),
    ("POST", "/unfollow?toUnfollowId=1"),
    ("GET", "/users?q=a"),
    ("GET", "/users/1"),
    ("GET", "/users/1/followers"),
    ("GET", "/users/1/following"),
    ("GET", "/users/1/posts"),
    ("POST", "/posts"),
    ("GET", "/posts/1"),
    ("DELETE", "/posts/1"),
    ("GET", "/feed"),
    ("POST", "/posts/1/like"),
    ("DELETE", "/posts/1/like"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_needs_a_live_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    alice = await register(client)
    assert (await client.post("/auth/logout", headers=alice.headers)).status_code == 202
    for headers in ({}, {"Authorization": "Bearer not.a.token"}, alice.headers):
        response = await client.request(
            method, f"{USERS}{path}", headers=headers, json={"content": "x"}
        )
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"


async def test_an_ended_session_changes_nothing(client: httpx.AsyncClient) -> None:
    """Likes and follows check their session in the statement that writes (PostgreSQL):
    after logout nothing of theirs goes through."""
    alice, bob = await register(client), await register(client)
    post = await write_post(client, alice, "like me")
    like_url = f"{USERS}/posts/{post['id']}/like"
    assert (await client.post(like_url, headers=bob.headers)).status_code == 200
    follow_url = f"{USERS}/follow?toFollowId={alice.id}"
    assert (await client.post(follow_url, headers=bob.headers)).status_code == 200
    unread = (await client.get(f"{USERS}/notifications/unread", headers=alice.headers)).json()
    assert (await client.post("/auth/logout", headers=bob.headers)).status_code == 202
    for method, url in (
        ("DELETE", like_url),
        ("POST", f"{USERS}/unfollow?toUnfollowId={alice.id}"),
        ("POST", f"{USERS}/follow?toFollowId={alice.id}"),
    ):
        assert (await client.request(method, url, headers=bob.headers)).status_code == 401
    carol = await register(client)
    seen = (await client.get(f"{USERS}/posts/{post['id']}", headers=carol.headers)).json()
    assert seen["likes"] == 1
    followers = await client.get(f"{USERS}/users/{alice.id}/followers", headers=carol.headers)
    assert [u["id"] for u in followers.json()["items"]] == [bob.id]
    after = (await client.get(f"{USERS}/notifications/unread", headers=alice.headers)).json()
    assert after == unread


async def test_cookie_works_but_not_for_writes_from_another_site(
    client: httpx.AsyncClient,
) -> None:
    alice = await register(client)
    cookies = {"auth_token": alice.token}
    async with httpx.AsyncClient(base_url=str(client.base_url), cookies=cookies) as browser:
        assert (await browser.get(f"{USERS}/feed")).status_code == 200
        evil = await browser.post(
            f"{USERS}/posts", json={"content": "spam"}, headers={"Origin": "https://evil.example"}
        )
        assert evil.status_code == 403
        ours = await browser.post(
            f"{USERS}/posts", json={"content": "hi"}, headers={"Origin": "http://127.0.0.1:8000"}
        )
        assert ours.status_code == 201
        deleted = await browser.delete("/users/delete", headers={"Origin": "https://evil.example"})
        assert deleted.status_code == 403
        for method, path in (("POST", "/posts/1/like"), ("POST", "/follow?toFollowId=1")):
            evil = await browser.request(
                method, f"{USERS}{path}", headers={"Origin": "https://evil.example"}
            )
            assert evil.status_code == 403
    assert (await client.get("/auth/me", headers=alice.headers)).status_code == 200


@pytest.fixture(scope="module")
def user_service_alone(settings: Settings) -> Iterator[ThreadServer]:
    """The user service as deployed on its own: its own runtime, the public key only."""
    server = ThreadServer(create_app(settings), settings).start()
    yield server
    server.stop()


async def test_user_service_runs_on_its_own_with_tokens_from_the_auth_service(
    client: httpx.AsyncClient, user_service_alone: ThreadServer
) -> None:
    alice = await register(client)
    post = await write_post(client, alice, "written through the all-in-one server")
    with pytest.raises(RuntimeError, match="cannot mint"):  # it holds no private key
        user_service_alone.app.state.runtime.tokens.encode(
            user_id=alice.id, session_id=uuid.uuid4(), issued_at=utcnow(), expires_at=utcnow()
        )
    async with httpx.AsyncClient(base_url=user_service_alone.url) as alone:
        assert (await alone.get("/")).json() == {"service": "user", "status": "ok"}
        feed = await alone.get("/feed", headers=alice.headers)
        assert feed.status_code == 200
        assert feed.json()["items"] == [post]
        assert (await alone.get("/feed")).status_code == 401
