"""Scale-out (issue 15): two GoChat instances on one Redis, each serving its own rooms.

Each instance subscribes only to the channels of rooms with a local interest, so it should
receive (and decode, and spend CPU on) only its own rooms' traffic. Per instance this reports
its CPU seconds over the chatting phase, the frames it delivered, the broker messages it
received (`gochat_broker_events_total`) and those for rooms it no longer served
(`gochat_broker_events_unwanted_total`); beside them, every PUBLISH Redis carried meanwhile
(`INFO commandstats`): with one cluster-wide channel (the design before), each instance
received all of those. The Redis is a private `redis-server` of the scenario when there is
one (its command counts are then this run's alone), else the bench's.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import LoadGenerator, cpu_seconds
from bench.profiles import ScaleOut
from bench.rooms import _say_event
from bench.scenarios import Context, Result
from bench.systems import GOCHAT, ClientSpec
from gochat.processes import ServerProcess, free_port, running

BROKER_METRICS = (
    "gochat_broker_events",
    "gochat_broker_events_unwanted",
    "gochat_ws_messages_sent",
)


@contextmanager
def _redis(ctx: Context) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        if ctx.redis_url is None:
            raise RuntimeError("no redis-server and no Redis for the bench")
        yield ctx.redis_url
        return
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="gochat-bench-redis-") as directory:
        server = subprocess.Popen(
            [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


def _publishes(url: str) -> int:
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


def _counters(server: ServerProcess) -> dict[str, float | None]:
    """The broker counters of an instance (None where it has none: a build before them)."""
    text = httpx.get(server.url + "/metrics", timeout=30).text
    found: dict[str, float | None] = dict.fromkeys(BROKER_METRICS)
    for family in text_string_to_metric_families(text):
        if family.name in found:
            found[family.name] = sum(s.value for s in family.samples if s.name.endswith("_total"))
    return {**found, "cpu_s": cpu_seconds(server.pid)}


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else round(after - before, 2)


def _count(after: float | None, before: float | None) -> int | None:
    return None if after is None or before is None else int(after - before)


def scale_out(ctx: Context, spec: ScaleOut) -> Result:
    rooms = [[ctx.room(f"scale{side}-{i}") for i in range(spec.rooms)] for side in (0, 1)]
    ctx.db.create_rooms(rooms[0] + rooms[1])
    label = f"scale-out 2x{spec.rooms}x{spec.members}"
    say = _say_event(ctx, label)
    result: Result = {"rooms": spec.rooms, "members": spec.members, "rate": spec.rate}
    with _redis(ctx) as url:
        env = ctx.db.service_env(GOCHAT_REDIS_URL=url)
        servers = [GOCHAT.server(ctx.log_dir, env), GOCHAT.server(ctx.log_dir, env)]
        with running(*servers):
            # Interleaved, so consecutive sends go to both instances and to different rooms.
            clients: list[ClientSpec] = []
            for k in range(spec.rooms * spec.members):
                room = k % spec.rooms
                for side, server in enumerate(servers):
                    client = GOCHAT.client(server, rooms[side][room], ctx.accounts[len(clients)])
                    client["room"] = side * spec.rooms + room
                    clients.append(client)
            plan = {
                "mode": "fanout",
                "protocol": GOCHAT.protocol,
                "clients": clients,
                "watchPids": [server.pid for server in servers],
                "payloadBytes": ctx.profile.payload_bytes,
                "senders": len(clients),
                "perSenderRate": GOCHAT.per_sender_rate,
                "warmupS": min(1.0, spec.seconds / 4),
                "durationS": spec.seconds,
                "fixedRate": spec.rate,
                "fixedS": spec.seconds,
                "connectConcurrency": spec.connect_concurrency,
                "connectTimeoutS": 120,
                "drainS": 5,
                "syncPhases": True,
                # One run of the phase, never repeated for other work on the machine: the
                # counters read around it must cover exactly one run.
                "foreignCpuLimit": 1000,
                "abortMs": 3000,
            }
            marks: list[tuple[list[dict[str, float | None]], int]] = []
            with LoadGenerator("fanout.mjs", plan, ctx.work_dir) as loadgen:
                for event in loadgen.events():
                    say(event)
                    kind = event.get("event")
                    if kind in ("opened", "fixed"):
                        time.sleep(0.5)  # what was in flight lands
                        marks.append(([_counters(s) for s in servers], _publishes(url)))
                        loadgen.tell("go")
                    elif kind == "result":
                        result["fixed"] = event.get("fixed")
                        result["opened"] = event.get("ready")
    if len(marks) == 2:
        (before, published_before), (after, published_after) = marks
        result["published"] = published_after - published_before
        result["instances"] = [
            {
                "rooms": spec.rooms,
                "cpu_s": _delta(a["cpu_s"], b["cpu_s"]),
                "delivered": _count(a["gochat_ws_messages_sent"], b["gochat_ws_messages_sent"]),
                "broker_events": _count(a["gochat_broker_events"], b["gochat_broker_events"]),
                "unwanted": _count(
                    a["gochat_broker_events_unwanted"], b["gochat_broker_events_unwanted"]
                ),
            }
            for b, a in zip(before, after, strict=True)
        ]
        for figures in result["instances"]:
            cpu, delivered = figures["cpu_s"], figures["delivered"]
            figures["cpu_us_per_frame"] = (
                round(cpu * 1e6 / delivered, 1) if cpu is not None and delivered else None
            )
        fixed: dict[str, Any] = result.get("fixed") or {}
        for n, figures in enumerate(result["instances"], start=1):
            ctx.say(
                f"  {label} instance {n}: cpu {figures['cpu_s']} s"
                f" ({figures['cpu_us_per_frame']} µs per frame), delivered"
                f" {figures['delivered']}, broker events {figures['broker_events']}"
                f" (unwanted {figures['unwanted']}) of {result['published']} published"
            )
        ctx.say(
            f"  {label}: {fixed.get('messages_per_s')} msg/s p99 {fixed.get('p99_ms')} ms"
            f" lost {fixed.get('lost')} misrouted {fixed.get('misrouted')}"
        )
    return result
