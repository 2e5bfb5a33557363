from __future__ import annotations

import asyncio
import gc

import httpx

from shared.pauses import LAG_PROBE_SECONDS
from shared.service_app import build_service_app
from shared.settings import Settings
from tests.support.metrics import samples, unlabelled
from tests.support.servers import ThreadServer
from tests.support.users import register
from tests.ws.chat_client import create_room, join, messages, send_message, until_ready
from ws_service.metrics import ChatMetrics


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client, "metrics")
    await client.get("/auth/me", headers=account.headers)
    await client.get(f"/auth/no/such/{account.id}")

    response = await client.get("/auth/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)

    def count(route: str, method: str, status: str) -> float:
        labels = frozenset({"route": route, "method": method, "status": status}.items())
        return found.get(("gochat_http_requests_total", labels), 0)

    assert count("/register", "POST", "201") >= 1
    assert count("/me", "GET", "200") >= 1
    assert count("unmatched", "GET", "404") >= 1  # never the raw path: bounded labels
    assert not any(str(account.id) in dict(labels).get("route", "") for _, labels in found)
    latency = (
        "gochat_http_request_duration_seconds_count",
        frozenset({"route": "/register", "method": "POST"}.items()),
    )
    assert found[latency] >= 1
    assert ("process_resident_memory_bytes", frozenset()) in found


async def test_each_service_app_counts_its_own_requests(client: httpx.AsyncClient) -> None:
    """Three apps in one process (the dev server), three registries: no clash, no mixing."""
    root = (
        "gochat_http_requests_total",
        frozenset({"route": "/", "method": "GET", "status": "200"}.items()),
    )
    auth_before = samples((await client.get("/auth/metrics")).text).get(root, 0)
    users_before = samples((await client.get("/users/metrics")).text).get(root, 0)
    for _ in range(3):
        assert (await client.get("/users/")).status_code == 200
    assert samples((await client.get("/users/metrics")).text)[root] == users_before + 3
    assert samples((await client.get("/auth/metrics")).text).get(root, 0) == auth_before


def test_many_apps_in_one_process_register_their_metrics_independently(
    settings: Settings,
) -> None:
    apps = [build_service_app(name="ws", settings=settings, routers=[]) for _ in range(3)]
    chats = [ChatMetrics(app.state.metrics.registry) for app in apps]
    chats[0].messages_received.inc(5)
    values = [
        app.state.metrics.registry.get_sample_value("gochat_ws_messages_received_total")
        for app in apps
    ]
    assert values == [5, 0, 0]


async def test_the_chat_service_counts_connections_messages_and_broadcasts(
    client: httpx.AsyncClient, dev_server: ThreadServer
) -> None:
    async def chat_samples() -> dict[str, float]:
        return unlabelled((await client.get("/chat/metrics")).text)

    alice = await register(client, "alice")
    bob = await register(client, "bob")
    room_id = await create_room(client, alice)
    before = await chat_samples()
    async with (
        join(dev_server.url, room_id, alice) as alice_ws,
        join(dev_server.url, room_id, bob) as bob_ws,
    ):
        await until_ready(alice_ws)
        await until_ready(bob_ws)
        for n in range(3):
            await send_message(alice_ws, f"counted {n}")
        await messages(bob_ws, 3)
        during = await chat_samples()

    def grew(name: str) -> float:
        return during[name] - before.get(name, 0)

    assert during["gochat_ws_connections_open"] >= 2
    assert grew("gochat_ws_messages_received_total") == 3
    assert grew("gochat_ws_messages_sent_total") >= 6  # 3 messages, 2 members each
    assert grew("gochat_ws_broadcast_seconds_count") >= 1


async def test_loop_lag_and_gc_pauses_are_measured(client: httpx.AsyncClient) -> None:
    """The probe task measures the loop's lateness; every collection's pause is timed."""

    def counts(exposition: str) -> tuple[float, float]:
        found = samples(exposition)
        lag = found[("gochat_event_loop_lag_seconds_count", frozenset())]
        full = ("gochat_gc_pause_seconds_count", frozenset({("generation", "2")}))
        return lag, found.get(full, 0)

    lag_before, full_before = counts((await client.get("/users/metrics")).text)
    gc.collect()  # a full collection, in the server's process (a thread of this one)
    await asyncio.sleep(3 * LAG_PROBE_SECONDS)
    lag_after, full_after = counts((await client.get("/users/metrics")).text)
    assert lag_after > lag_before
    assert full_after >= full_before + 1
