from __future__ import annotations

import asyncio

import httpx

from tests.support.users import PASSWORD, register, unique_name


def body(username: str, **overrides: object) -> dict[str, object]:
    return {
        "username": username,
        "email": f"{username}@example.com",
        "password": PASSWORD,
        **overrides,
    }


async def test_liveness(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/")
    assert response.status_code == 200
    assert response.json() == {"service": "auth", "status": "ok"}


async def test_register_creates_user_session_and_cookie(client: httpx.AsyncClient) -> None:
    name = unique_name("Reg")
    response = await client.post("/auth/register", json=body(name, email=f"{name}@Example.COM"))
    assert response.status_code == 201
    data = response.json()
    assert data["user"]["username"] == name
    assert data["user"]["email"] == f"{name.lower()}@example.com"
    assert set(data["user"]) == {"id", "username", "email", "created_at"}
    assert data["token_type"] == "bearer"
    assert data["access_token"].count(".") == 2
    assert "password" not in response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"auth_token={data['access_token']};")
    for attribute in ("HttpOnly", "Path=/", "SameSite=lax"):
        assert attribute in cookie
    assert "Secure" not in cookie
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {data['access_token']}"})
    assert me.status_code == 200
    assert me.json() == data["user"]


async def test_duplicate_username_or_email_is_409_case_insensitively(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    same_name = await client.post(
        "/auth/register", json=body(account.username.upper(), email=f"other_{account.email}")
    )
    assert same_name.status_code == 409
    assert "username" in same_name.json()["detail"]
    same_email = await client.post(
        "/auth/register", json=body(unique_name(), email=account.email.upper())
    )
    assert same_email.status_code == 409
    assert "email" in same_email.json()["detail"]


async def test_concurrent_identical_signups_create_one_user(client: httpx.AsyncClient) -> None:
    name = unique_name("race")
    responses = await asyncio.gather(
        *(client.post("/auth/register", json=body(name)) for _ in range(5))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1
    assert set(codes) <= {201, 409}


async def test_invalid_bodies_are_422_and_never_echo_the_password(
    client: httpx.AsyncClient,
) -> None:
    name = unique_name()
    cases = [
        {"email": f"{name}@example.com", "password": PASSWORD},  # missing username
        body("ab"),  # too short
        body("x" * 33),  # too long
        body("bad name!"),  # forbidden characters
        body(name, email="not-an-email"),
        body(name, password="shortpw"),
        body(name, password="p" * 1025),
        body(name, password=12345678),  # wrong type
        {**body(name), "username": ["list"]},
        body(name, extra="field"),
    ]
    for case in cases:
        response = await client.post("/auth/register", json=case)
        assert response.status_code == 422, case
        assert isinstance(response.json()["detail"], list)
        assert PASSWORD not in response.text
        assert '"input"' not in response.text


async def test_malformed_json_and_wrong_content_are_422(client: httpx.AsyncClient) -> None:
    for content in (b"{not json", b"", b"[]", b"null", b'"string"'):
        response = await client.post(
            "/auth/register", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, content
        assert response.headers["content-type"] == "application/json"


async def test_a_huge_password_is_refused_as_invalid(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/auth/register", json=body(unique_name(), password="a" * 5000))
    assert response.status_code == 422
