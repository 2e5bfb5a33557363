"""The production topology as processes (`gochat stack`): auth, user, two ws instances and
the web client behind Debian's nginx, on PostgreSQL and Redis, driven through the gateway."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from gochat.processes import free_port
from gochat.stack import Stack, service_of
from tests.conftest import REDIS_URL
from tests.support.metrics import unlabelled
from tests.support.servers import wait_until_ready
from tests.support.users import PASSWORD, Account, register
from tests.ws.chat_client import (
    close_code,
    create_room,
    join,
    messages,
    next_page,
    send_message,
    until_ready,
)

pytestmark = pytest.mark.slow


def stack_environment(database_url: str) -> dict[str, str]:
    """What an operator would put in .env, with the test suite's cheap password hashing."""
    if not database_url.startswith("postgresql"):
        pytest.skip("the stack runs on PostgreSQL (GOCHAT_TEST_DATABASE_URL)")
    if not REDIS_URL:
        pytest.skip("the stack's ws instances share Redis (GOCHAT_TEST_REDIS_URL)")
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
def stack(
    database_url: str, nginx: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    env = stack_environment(database_url)
    run_dir = tmp_path_factory.mktemp("stack")
    with Stack(env, run_dir, gateway_port=free_port(), nginx=nginx) as running:
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


async def test_next_page_links_lead_to_the_next_page_through_the_gateway(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """The chat service sits under `/chat` on the gateway's port, which it never sees: its
    `Link` headers (scrollback, getRooms) still lead a client to the next page."""
    alice = await register(gateway, "alice")
    rooms = {await create_room(gateway, alice) for _ in range(3)}
    room_id = min(rooms)
    async with join(stack.url, room_id, alice) as ws:
        await until_ready(ws)
        for n in range(3):
            await send_message(ws, f"m{n}")
        await messages(ws, 3)

    seen: list[int] = []
    url: str | None = f"/chat/ws/rooms/{room_id}/messages?limit=1"
    while url is not None:
        page = await gateway.get(url, headers=alice.headers)
        assert page.status_code == 200, (url, page.text)
        seen = [m["id"] for m in page.json()] + seen
        url = next_page(page)
    assert seen == [1, 2, 3]

    listed: list[str] = []
    url = "/chat/ws/getRooms?mine=true&limit=1"
    while url is not None:
        page = await gateway.get(url, headers=alice.headers)
        assert page.status_code == 200, (url, page.text)
        listed += [room["id"] for room in page.json()]
        url = next_page(page)
    assert set(listed) == rooms and len(listed) == 3


async def test_every_instance_is_ready_and_exports_its_metrics(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(timeout=10) as direct:
        for name, process in stack.services.items():
            if service_of(name) == "web":
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


async def join_placed(
    stack: Stack, room_id: str, account: Account, *, after: int | None = None
) -> tuple[ClientConnection, str]:
    """A chat socket opened through the gateway, and the ws instance the gateway gave it to
    (found by the request id in that instance's log)."""
    request_id = f"place-{secrets.token_hex(8)}"
    ws = await join(stack.url, room_id, account, after=after, headers={"X-Request-ID": request_id})
    for _ in range(100):
        for process in stack.ws():
            if f'"request_id":"{request_id}"' in process.log_path.read_text():
                return ws, process.name
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ws instance logged {request_id}")


async def test_chat_between_instances_survives_losing_one(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """Two clients the gateway placed on different ws instances chat; one instance is
    stopped (SIGTERM): its client is closed with 1012, reconnects through the gateway with
    ?after= to the other instance, and gets what it missed, once each, in order."""
    alice = await register(gateway, "alice")
    bob = await register(gateway, "bob")
    room_id = await create_room(gateway, alice)

    # The gateway sends each new socket to the instance holding the fewest.
    alice_ws, alice_instance = await join_placed(stack, room_id, alice)
    bob_ws, bob_instance = await join_placed(stack, room_id, bob)
    assert alice_instance != bob_instance
    await until_ready(alice_ws)
    await until_ready(bob_ws)

    await send_message(alice_ws, "hello from alice", client_id="a1")
    await send_message(bob_ws, "hello from bob", client_id="b1")
    seen_by_alice = await messages(alice_ws, 2)
    seen_by_bob = await messages(bob_ws, 2)
    assert [m["id"] for m in seen_by_alice] == [m["id"] for m in seen_by_bob]
    assert {m["content"] for m in seen_by_bob} == {"hello from alice", "hello from bob"}
    last_seen = seen_by_alice[-1]["id"]
    async with httpx.AsyncClient(timeout=10) as direct:
        for name in (alice_instance, bob_instance):  # each instance counts its own
            exposed = unlabelled((await direct.get(stack.services[name].url + "/metrics")).text)
            assert exposed["gochat_ws_connections_open"] >= 1
            assert exposed["gochat_ws_messages_received_total"] >= 1
            assert exposed["gochat_ws_messages_sent_total"] >= 2

    stopping = asyncio.create_task(asyncio.to_thread(stack.services[alice_instance].terminate))
    try:
        assert await close_code(alice_ws) == 1012  # "service restart": come back elsewhere
        await alice_ws.close()
        await stopping
        missed = [f"while alice was away {n}" for n in range(3)]
        for n, content in enumerate(missed):
            await send_message(bob_ws, content, client_id=f"b-away-{n}")
        await messages(bob_ws, 3)

        back, instance = await join_placed(stack, room_id, alice, after=last_seen)
        assert instance == bob_instance
        history, ready = await until_ready(back)
        assert [m["content"] for m in history] == missed
        assert [m["id"] for m in history] == [last_seen + 1, last_seen + 2, last_seen + 3]
        assert ready["last_id"] == last_seen + 3
        await back.close()
        await bob_ws.close()
    finally:
        await stopping
        await asyncio.to_thread(stack.restart, alice_instance)


async def test_the_web_client_is_served_at_the_root_and_its_origin_may_chat(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """A browser on the gateway's address: the page, then the cookie and the page's Origin
    open a chat socket through the gateway."""
    page = await gateway.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]

    alice = await register(gateway, "browser")
    room_id = await create_room(gateway, alice)
    browser_headers = {"Origin": stack.url, "Cookie": f"auth_token={alice.token}"}
    async with join(stack.url, room_id, None, headers=browser_headers) as ws:
        _history, ready = await until_ready(ws)
        assert ready["room_id"] == room_id
    foreign = {**browser_headers, "Origin": "https://elsewhere.example"}
    with pytest.raises(InvalidStatus) as refused:
        await join(stack.url, room_id, None, headers=foreign)
    assert refused.value.response.status_code == 403
