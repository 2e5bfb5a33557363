from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from auth_service.app import create_app
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.servers import ThreadServer
from tests.support.users import PASSWORD, register, unique_name


async def test_login_by_email_or_username_in_any_case(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for login in (
        account.email,
        account.email.upper(),
        account.username,
        account.username.upper(),
        f"  {account.username} ",
    ):
        response = await client.post("/auth/login", json={"email": login, "password": PASSWORD})
        assert response.status_code == 200, login
        data = response.json()
        assert data["user"]["id"] == account.id
        assert response.cookies.get("auth_token") == data["access_token"]
        assert data["access_token"] != account.token  # every login is its own session


async def test_wrong_password_and_unknown_user_answer_the_same(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    wrong = await client.post("/auth/login", json={"email": account.email, "password": "nope" * 3})
    unknown = await client.post(
        "/auth/login", json={"email": f"{unique_name()}@example.com", "password": "nope" * 3}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "invalid email/username or password"}
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"email": "x"},
        {"password": "x"},
        {"email": "", "password": PASSWORD},
        {"email": "a", "password": ""},
        {"email": ["a"], "password": PASSWORD},
        {"email": "a", "password": "p" * 1025},
    ],
)
async def test_bad_login_bodies_are_422(client: httpx.AsyncClient, payload: object) -> None:
    response = await client.post("/auth/login", json=payload)
    assert response.status_code == 422


@pytest.fixture
def strict_auth_server(settings: Settings, data_dir: Path) -> Iterator[ThreadServer]:
    """An auth service of its own with the production login limit (10 failures a minute)."""
    strict = make_settings(
        settings.database_url,
        data_dir,
        login_failure_limit="10/minute",
        register_limit="5/minute",
    )
    server = ThreadServer(create_app(strict), strict).start()
    yield server
    server.stop()


async def test_repeated_failures_are_throttled_per_account_with_retry_after(
    strict_auth_server: ThreadServer,
) -> None:
    async with httpx.AsyncClient(base_url=strict_auth_server.url) as http:
        account = await register(http, auth_path="")
        for _ in range(10):
            failed = await http.post("/login", json={"email": account.email, "password": "x" * 8})
            assert failed.status_code == 401
        throttled = await http.post("/login", json={"email": account.email, "password": PASSWORD})
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert throttled.json() == {"detail": "too many failed logins; try again later"}
        # The address is throttled too, so other accounts can't be guessed from here either.
        other = await http.post("/login", json={"email": "someone@example.com", "password": "x"})
        assert other.status_code == 429


async def test_signups_are_throttled_per_address(strict_auth_server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=strict_auth_server.url) as http:
        codes = []
        for _ in range(7):
            name = unique_name("flood")
            response = await http.post(
                "/register",
                json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
            )
            codes.append(response.status_code)
        assert codes.count(201) <= 5
        assert codes[-1] == 429


async def test_throttled_login_does_no_hashing(strict_auth_server: ThreadServer) -> None:
    """The limits are checked before argon2 runs, so a throttled flood costs no CPU."""
    hasher = strict_auth_server.app.state.passwords
    async with httpx.AsyncClient(base_url=strict_auth_server.url) as http:
        login = {"email": f"{unique_name()}@example.com", "password": "x" * 8}
        while (await http.post("/login", json=login)).status_code != 429:
            pass
        before = hasher.operations
        for _ in range(20):
            assert (await http.post("/login", json=login)).status_code == 429
        assert hasher.operations == before


async def test_failure_counts_are_shared_between_instances_through_redis(
    settings: Settings, data_dir: Path, redis_url: str
) -> None:
    """Two auth processes behind one address count against the same window in Redis."""
    shared = make_settings(
        settings.database_url, data_dir, login_failure_limit="6/minute", redis_url=redis_url
    )
    first = ThreadServer(create_app(shared), shared).start()
    second = ThreadServer(create_app(shared), shared).start()
    try:
        async with (
            httpx.AsyncClient(base_url=first.url) as one,
            httpx.AsyncClient(base_url=second.url) as two,
        ):
            account = await register(one, auth_path="")
            wrong = {"email": account.email, "password": "wrong password"}
            for http in (one, two, one, two, one, two):
                assert (await http.post("/login", json=wrong)).status_code == 401
            for http in (one, two):
                right = {"email": account.email, "password": PASSWORD}
                assert (await http.post("/login", json=right)).status_code == 429
    finally:
        first.stop()
        second.stop()


async def test_no_database_connection_is_held_while_a_password_is_hashed(
    settings: Settings, data_dir: Path
) -> None:
    """A login flood must queue on the hashing threads, not on the connection pool (on
    SQLite the process has a single connection)."""
    own = make_settings(settings.database_url, data_dir)
    server = ThreadServer(create_app(own), own).start()
    runtime = server.app.state.runtime
    hasher = server.app.state.passwords
    pool = runtime.engine.sync_engine.pool
    hashing, release = threading.Event(), threading.Event()
    verify = hasher._context.verify_and_update
    create = hasher._context.hash

    def held(work):  # type: ignore[no-untyped-def]
        def wrapper(*args):  # type: ignore[no-untyped-def]
            hashing.set()
            release.wait(10)
            return work(*args)

        return wrapper

    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            account = await register(http, auth_path="")
            for attribute, original, call in (
                (
                    "verify_and_update",
                    verify,
                    http.post("/login", json={"email": account.email, "password": PASSWORD}),
                ),
                (
                    "hash",
                    create,
                    http.post(
                        "/register",
                        json={
                            "username": unique_name(),
                            "email": f"{unique_name()}@example.com",
                            "password": PASSWORD,
                        },
                    ),
                ),
            ):
                hashing.clear()
                release.clear()
                setattr(hasher._context, attribute, held(original))
                pending = asyncio.ensure_future(call)
                assert await asyncio.to_thread(hashing.wait, 10)
                assert pool.checkedout() == 0
                release.set()
                assert (await pending).status_code in (200, 201)
                setattr(hasher._context, attribute, original)
    finally:
        release.set()
        server.stop()


async def test_a_concurrent_burst_runs_at_most_the_limits_number_of_password_checks(
    strict_auth_server: ThreadServer,
) -> None:
    """Each attempt is counted before its hash, atomically, so 100 wrong passwords sent at
    once for one account cost at most 10 argon2 checks (the limit), not 100."""
    hasher = strict_auth_server.app.state.passwords
    async with httpx.AsyncClient(base_url=strict_auth_server.url, timeout=60) as http:
        account = await register(http, auth_path="")
        before = hasher.operations
        wrong = {"email": account.email, "password": "wrong password"}
        responses = await asyncio.gather(*(http.post("/login", json=wrong) for _ in range(100)))
        hashes = hasher.operations - before
    codes = [response.status_code for response in responses]
    assert hashes <= 10, (hashes, sorted(set(codes)))
    assert codes.count(401) == hashes
    assert codes.count(429) == 100 - hashes


async def test_successful_logins_do_not_use_up_the_failure_limit(
    strict_auth_server: ThreadServer,
) -> None:
    async with httpx.AsyncClient(base_url=strict_auth_server.url, timeout=60) as http:
        account = await register(http, auth_path="")
        right = {"email": account.email, "password": PASSWORD}
        for _ in range(15):
            assert (await http.post("/login", json=right)).status_code == 200
        for _ in range(10):
            failed = await http.post("/login", json={**right, "password": "wrong password"})
            assert failed.status_code == 401
        assert (await http.post("/login", json=right)).status_code == 429


async def test_a_concurrent_signup_burst_hashes_at_most_the_limit(
    strict_auth_server: ThreadServer,
) -> None:
    hasher = strict_auth_server.app.state.passwords
    async with httpx.AsyncClient(base_url=strict_auth_server.url, timeout=60) as http:
        before = hasher.operations
        names = [unique_name("burst") for _ in range(30)]
        responses = await asyncio.gather(
            *(
                http.post(
                    "/register",
                    json={"username": n, "email": f"{n}@example.com", "password": PASSWORD},
                )
                for n in names
            )
        )
        hashes = hasher.operations - before
    codes = [response.status_code for response in responses]
    assert hashes <= 5
    assert codes.count(201) == hashes
    assert codes.count(429) == 30 - hashes
