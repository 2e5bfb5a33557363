"""The production topology as processes (`gochat stack`): auth, user, two ws instances and
the web client behind Debian's nginx, on PostgreSQL and Redis, driven through the gateway."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from gochat.stack import Stack, free_port
from tests.conftest import REDIS_URL
from tests.support.servers import wait_until_ready
from tests.support.users import PASSWORD, register

pytestmark = pytest.mark.slow


def stack_environment(database_url: str) -> dict[str, str]:
    """What an operator would put in .env, with the test suite's cheap password hashing."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the stack runs on PostgreSQL (GOCHAT_TEST_DATABASE_URL)")
    if not REDIS_URL:
        pytest.skip("the stack's ws instances share Redis (GOCHAT_TEST_REDIS_URL)")
    if not (shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")):
        pytest.skip("nginx is not installed (.ci/run installs it)")
    return {
        "GOCHAT_DATABASE_URL": database_url,
        "GOCHAT_REDIS_URL": REDIS_URL,
        "GOCHAT_REDIS_NAMESPACE": f"gochat-stack-{secrets.token_hex(4)}",
        "GOCHAT_ARGON2_MEMORY_KIB": "1024",
        "GOCHAT_ARGON2_TIME_COST": "1",
        "GOCHAT_REGISTER_LIMIT": "100000/minute",
        "GOCHAT_LOGIN_FAILURE_LIMIT": "1000/minute",
    }


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = stack_environment(database_url)
    run_dir = tmp_path_factory.mktemp("stack")
    with Stack(env, run_dir, gateway_port=free_port()) as running:
        yield running


@pytest.fixture
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        yield http


async def logged_by_gateway(stack: Stack, request_id: str) -> dict[str, object]:
    """The gateway's access line for a request (nginx writes it just after answering)."""
    for _ in range(50):
        for line in (stack.logs / "gateway.log").read_text().splitlines():
            entry: dict[str, object] = json.loads(line)
            if entry["request_id"] == request_id:
                return entry
        await asyncio.sleep(0.05)
    raise AssertionError(f"the gateway logged no request {request_id}")


async def test_sign_up_log_in_follow_and_post_through_the_gateway(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    login = await gateway.post("/auth/login", json={"email": bob.email, "password": PASSWORD})
    assert login.status_code == 200
    bob_headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    followed = await gateway.post(f"/users/follow?toFollowId={alice.id}", headers=bob_headers)
    assert followed.status_code == 200, followed.text
    posted = await gateway.post(
        "/users/posts", json={"content": "hello through nginx"}, headers=alice.headers
    )
    assert posted.status_code == 201, posted.text
    feed = await gateway.get("/users/feed", headers=bob_headers)
    assert feed.status_code == 200
    assert [p["content"] for p in feed.json()["items"]] == ["hello through nginx"]

    # The gateway passes its request id on, so its log line and the service's share it.
    request_id = feed.headers["x-request-id"]
    logged = await logged_by_gateway(stack, request_id)
    assert logged["path"] == "/users/feed" and logged["status"] == 200
    user_log = (stack.logs / "user.log").read_text()
    assert f'"request_id":"{request_id}"' in user_log


async def test_every_instance_is_ready_and_exports_its_metrics(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(timeout=10) as direct:
        for name, process in stack.services.items():
            if process.service == "web":
                continue
            ready = await direct.get(process.url + "/readyz")
            assert ready.status_code == 200, name
            assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
            metrics = await direct.get(process.url + "/metrics")
            assert "gochat_http_requests_total" in metrics.text
    hidden = await gateway.get("/auth/metrics")
    assert hidden.status_code == 404
    assert hidden.json() == {"detail": "not found"}


async def test_the_gateway_answers_json_while_no_instance_of_a_service_runs(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    user = stack.services["user"]
    user.terminate()
    try:
        down = await gateway.get("/users/")
        assert down.status_code == 502
        assert down.json()["detail"].startswith("no instance of this service answered")
        assert down.headers["retry-after"] == "2"
    finally:
        stack.restart("user")
    await wait_until_ready(gateway, "/users/readyz")
