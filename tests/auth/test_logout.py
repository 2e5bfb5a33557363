from __future__ import annotations

import httpx

from tests.support.users import PASSWORD, register


async def test_logout_revokes_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    response = await client.post("/auth/logout", headers=account.headers)
    assert response.status_code == 202
    assert response.json() == {"status": "logged_out"}
    assert 'auth_token=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (await client.get("/auth/me", headers=account.headers)).status_code == 401
    again = await client.post("/auth/logout", headers=account.headers)
    assert again.status_code == 401


async def test_logout_ends_only_that_session(client: httpx.AsyncClient) -> None:
    account = await register(client)
    second = await client.post("/auth/login", json={"email": account.email, "password": PASSWORD})
    other_token = second.json()["access_token"]
    assert (await client.post("/auth/logout", headers=account.headers)).status_code == 202
    still = await client.get("/auth/me", headers={"Authorization": f"Bearer {other_token}"})
    assert still.status_code == 200


async def test_logout_without_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/logout")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_cookie_authenticates_and_cross_site_cookie_posts_are_refused(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    cookies = {"auth_token": account.token}
    async with httpx.AsyncClient(base_url=str(client.base_url), cookies=cookies) as browser:
        assert (await browser.get("/auth/me")).status_code == 200
        evil = await browser.post("/auth/logout", headers={"Origin": "https://evil.example"})
        assert evil.status_code == 403
        assert (await browser.get("/auth/me")).status_code == 200
        ours = await browser.post("/auth/logout", headers={"Origin": "http://127.0.0.1:8000"})
        assert ours.status_code == 202
        browser.cookies.set("auth_token", account.token)  # a stolen copy of the cookie
        assert (await browser.get("/auth/me")).status_code == 401
