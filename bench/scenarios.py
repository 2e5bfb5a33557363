"""The scenarios of issue 7. Each starts its servers fresh, runs one load generator plan
against them and returns a plain dict of figures that `bench.report` renders."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.database import Account, BenchDatabase
from bench.processes import LoadGenerator, pinned_server, rss_kib, run_loadgen
from bench.profiles import Fanout, Profile
from bench.systems import GOCHAT, System
from gochat.processes import ServerProcess, running
from shared.passwords import PasswordHasher
from shared.settings import Settings

Result = dict[str, Any]
LOGIN_PASSWORD = "bench password 1"


@dataclass
class Context:
    profile: Profile
    work_dir: Path
    log_dir: Path
    db: BenchDatabase
    accounts: list[Account]
    redis_url: str | None
    say: Callable[[str], None]

    def room(self, name: str) -> str:
        return f"{name}-{secrets.token_hex(3)}"


def gochat_ws_available(ctx: Context) -> bool:
    """Whether ws_service serves the chat contract yet (it is built on another branch)."""
    server = GOCHAT.server(ctx.log_dir, ctx.db.service_env())
    with running(server):
        return httpx.get(server.url + "/ws/getRooms", timeout=5).status_code == 401


def user_service_available(ctx: Context) -> bool:
    server = pinned_server("user", _serve("user"), env=ctx.db.service_env(), log_dir=ctx.log_dir)
    with running(server):
        return httpx.get(server.url + "/feed", timeout=5).status_code == 401


def _serve(service: str) -> list[str]:
    return [sys.executable, "-m", "gochat.cli", "serve", service, "--port", "{port}"]


def _fanout_plan(
    ctx: Context, system: System, fanout: Fanout, clients: list[dict[str, Any]], pids: list[int]
) -> dict[str, Any]:
    p = ctx.profile
    return {
        "mode": "fanout",
        "protocol": system.protocol,
        "clients": clients,
        "watchPids": pids,
        "payloadBytes": p.payload_bytes,
        "senders": p.senders,
        "perSenderRate": system.per_sender_rate,
        "warmupS": p.warmup_s,
        "durationS": p.duration_s,
        "fixedRate": fanout.fixed_rate,
        "connectConcurrency": 50,
        "ramp": {**fanout.ramp.plan(), "confirmS": p.confirm_s},
    }


def _log_step(ctx: Context, label: str) -> Callable[[dict[str, Any]], None]:
    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "opened":
            ctx.say(
                f"  {label}: {event['ready']}/{event['clients']} open in {event['seconds']:.1f} s"
            )
        elif kind in ("step", "fixed"):
            verdict = "" if kind == "fixed" else (" ok" if event.get("ok") else " FAIL")
            if event.get("aborted"):
                verdict += " (aborted: server fell behind)"
            if event.get("contended"):
                verdict += f" (other work: {event['foreign_cpu']} CPU)"
            ctx.say(
                f"  {label} {kind} {event['rate']:.1f} msg/s -> {event['deliveries_per_s']} del/s"
                f" p99 {event['p99_ms']} ms lost {event['lost']} dup {event['doubled']}"
                f" err {event['errors']} cpu srv {event['server_cpu']} gen {event['loadgen_cpu']}"
                f"{verdict}"
            )

    return on_event


def fanout(ctx: Context, system: System, spec: Fanout) -> Result:
    """N clients in one room, S senders: a fixed rate, then the open-loop ramp."""
    room = ctx.room(f"fanout-{spec.clients}")
    env = ctx.db.service_env() if system is GOCHAT else {}
    if system is GOCHAT:
        ctx.db.create_rooms([room])
    server = system.server(ctx.log_dir, env)
    with running(server):
        clients = system.clients([server], room, ctx.accounts, spec.clients)
        plan = _fanout_plan(ctx, system, spec, clients, [server.pid])
        result = run_loadgen(
            "fanout.mjs",
            plan,
            ctx.work_dir,
            on_event=_log_step(ctx, f"{system.key} N={spec.clients}"),
        )
        result["rss_kib"] = rss_kib(server.pid)
    result.update(system=system.key, clients=spec.clients)
    return result


def cluster(ctx: Context, redis_url: str) -> Result:
    """The fan-out with clients split over two ws_service instances sharing Redis."""
    spec = ctx.profile.cluster
    room = ctx.room("cluster")
    ctx.db.create_rooms([room])
    env = ctx.db.service_env(GOCHAT_REDIS_URL=redis_url)
    first, second = GOCHAT.server(ctx.log_dir, env), GOCHAT.server(ctx.log_dir, env)
    with running(first, second):
        clients = GOCHAT.clients([first, second], room, ctx.accounts, spec.clients)
        plan = _fanout_plan(ctx, GOCHAT, spec, clients, [first.pid, second.pid])
        result = run_loadgen("fanout.mjs", plan, ctx.work_dir, on_event=_log_step(ctx, "gochat x2"))
    result.update(system="gochat-x2", clients=spec.clients)
    return result


IDLE_PAUSE_WATCH_SECONDS = 10.0  # GoChat's pause histograms read over this long, all open


def idle(ctx: Context, system: System) -> Result:
    """Many idle sockets in rooms: RSS per socket and the time to open them; for GoChat,
    its GC pauses and loop lag while they were opened and while they sat idle."""
    from bench.rooms import pauses_between, read_pauses  # bench.rooms imports this module

    p = ctx.profile
    rooms = [ctx.room(f"idle{i}") for i in range(p.idle_rooms)]
    env = ctx.db.service_env() if system is GOCHAT else {}
    if system is GOCHAT:
        ctx.db.create_rooms(rooms)
    server = system.server(ctx.log_dir, env)
    with running(server):
        clients: list[dict[str, Any]] = []
        per_room = -(-p.idle_sockets // p.idle_rooms)
        for index, room in enumerate(rooms):
            accounts = ctx.accounts[index * per_room : (index + 1) * per_room]
            clients += system.clients([server], room, accounts, len(accounts))
        clients = clients[: p.idle_sockets]
        plan = {
            "mode": "idle",
            "protocol": system.protocol,
            "clients": clients,
            "warm": p.idle_warm,
            "connectConcurrency": 50,
            "connectTimeoutS": 60,
            "holdS": 120,
        }
        figures: Result = {"system": system.key, "sockets": len(clients)}
        marks: dict[str, Any] = {}
        with LoadGenerator("fanout.mjs", plan, ctx.work_dir) as loadgen:
            for event in loadgen.events():
                if event["event"] == "warm":
                    time.sleep(0.5)
                    figures["rss_warm_kib"] = rss_kib(server.pid)
                    marks["warm"] = read_pauses(server) if system is GOCHAT else None
                    loadgen.tell("go")
                elif event["event"] == "opened":
                    time.sleep(1.0)
                    figures["rss_open_kib"] = rss_kib(server.pid)
                    if system is GOCHAT:  # the pauses while opening, then while all sit idle
                        marks["opened"] = read_pauses(server)
                        time.sleep(IDLE_PAUSE_WATCH_SECONDS)
                        marks["idle"] = read_pauses(server)
                        figures["pauses_opening"] = pauses_between(marks["warm"], marks["opened"])
                        figures["pauses_idle"] = pauses_between(marks["opened"], marks["idle"])
                    loadgen.tell("close")
                elif event["event"] == "result":
                    figures.update(event)
    opened = figures.get("opened", 0)
    if opened and "rss_open_kib" in figures:
        figures["kib_per_socket"] = round(
            (figures["rss_open_kib"] - figures["rss_warm_kib"]) / opened, 2
        )
    ctx.say(
        f"  {system.key} idle: {figures.get('ready')}/{len(clients)} open in"
        f" {figures.get('open_seconds', 0):.1f} s, {figures.get('kib_per_socket')} KiB/socket"
    )
    for phase in ("pauses_opening", "pauses_idle"):
        if phase in figures:
            ctx.say(f"  {system.key} {phase}: {figures[phase]}")
    return figures


def _login_hash(password: str) -> str:
    """A hash with the production argon2id parameters (the defaults), made the public way."""
    return asyncio.run(PasswordHasher(Settings()).hash(password))


def login_flood(ctx: Context) -> Result:
    """100 concurrent logins against one auth process while GET / is probed at a fixed rate."""
    p = ctx.profile
    accounts = ctx.db.create_accounts(
        p.login_flood, prefix="login", password_hash=_login_hash(LOGIN_PASSWORD)
    )
    env = ctx.db.service_env(GOCHAT_JWT_PRIVATE_KEY_FILE=str(ctx.db.private_key_file))
    server = pinned_server("auth", _serve("auth"), env=env, log_dir=ctx.log_dir)
    logins = [
        {
            "method": "POST",
            "path": "/login",
            "body": {"email": a.username, "password": LOGIN_PASSWORD},
        }
        for a in accounts
    ]
    probe = {"method": "GET", "path": "/"}
    with running(server):
        quiet = _http(
            ctx,
            server,
            p.login_seconds / 3,
            [
                {"name": "GET / alone", "kind": "open", "rate": p.probe_rate, "requests": [probe]},
            ],
        )
        flood = _http(
            ctx,
            server,
            p.login_seconds,
            [
                {
                    "name": "POST /login",
                    "kind": "closed",
                    "concurrency": p.login_flood,
                    "requests": logins,
                    "warmupS": min(1.0, p.login_seconds / 4),
                },
                {
                    "name": "GET / during flood",
                    "kind": "open",
                    "rate": p.probe_rate,
                    "requests": [probe],
                    "warmupS": min(1.0, p.login_seconds / 4),
                },
            ],
        )
    return {"concurrency": p.login_flood, "quiet": quiet, "flood": flood}


def follows(ctx: Context) -> Result:
    """/follow and /unfollow alternating on distinct pairs, closed loop."""
    p = ctx.profile
    followers = ctx.accounts[: p.follow_concurrency]
    targets = ctx.accounts[p.follow_concurrency : p.follow_concurrency + 50]
    requests = []
    for follower in followers:
        for target in targets:
            for path in (f"/follow?toFollowId={target.id}", f"/unfollow?toUnfollowId={target.id}"):
                requests.append({"method": "POST", "path": path, "headers": follower.headers})
    server = pinned_server("user", _serve("user"), env=ctx.db.service_env(), log_dir=ctx.log_dir)
    with running(server):
        return _http(
            ctx,
            server,
            p.follow_seconds,
            [
                {
                    "name": "follow+unfollow",
                    "kind": "closed",
                    "concurrency": p.follow_concurrency,
                    "requests": requests,
                    "warmupS": min(1.0, p.follow_seconds / 4),
                },
            ],
        )


def feed(ctx: Context) -> Result:
    """GET /feed for two readers following `feed_followed` people each among `feed_posts`
    posts: one whose followees wrote half of all posts (the newest page is among the recent
    posts) and one whose followees are quiet (ten old posts each, so no recent window holds a
    page and every followee's posts must be looked at)."""
    p = ctx.profile
    n = p.feed_followed
    busy_reader, quiet_reader, *authors = ctx.db.create_accounts(3 * n + 2, prefix="feed")
    quiet, followed, others = authors[:n], authors[n : 2 * n], authors[2 * n :]
    started = time.monotonic()
    ctx.db.seed_feed(
        reader_id=quiet_reader.id,
        followed=[a.id for a in quiet],
        authors=[a.id for a in quiet],
        posts=10 * n,
    )
    ctx.db.seed_feed(
        reader_id=busy_reader.id,
        followed=[a.id for a in followed],
        authors=[a.id for a in followed + others],
        posts=p.feed_posts,
    )
    # Every post shows its counts and the reader's liked/reposted; reposts share the feed.
    ctx.db.seed_reactions(
        reader_id=busy_reader.id,
        followed=[a.id for a in followed],
        reposts=p.feed_reposts,
        likes=p.feed_likes,
    )
    ctx.say(f"  seeded {p.feed_posts + 10 * n:,} posts in {time.monotonic() - started:.1f} s")
    server = pinned_server("user", _serve("user"), env=ctx.db.service_env(), log_dir=ctx.log_dir)
    warmup = min(1.0, p.feed_seconds / 4)
    results: Result = {
        "posts": p.feed_posts + 10 * n,
        "followed": n,
        "reposts": p.feed_reposts,
        "likes": p.feed_likes,
    }
    with running(server):
        for key, reader in (("busy", busy_reader), ("quiet", quiet_reader)):
            request = {"method": "GET", "path": "/feed", "headers": reader.headers}
            label = "followees post often" if key == "busy" else "followees are quiet"
            results[key] = _http(
                ctx,
                server,
                p.feed_seconds,
                [
                    {
                        "name": f"GET /feed, {label}, {p.feed_rate:.0f} req/s",
                        "kind": "open",
                        "rate": p.feed_rate,
                        "requests": [request],
                        "warmupS": warmup,
                    },
                ],
            )
            results[f"{key}_closed"] = _http(
                ctx,
                server,
                p.feed_seconds,
                [
                    {
                        "name": f"GET /feed, {label}, {p.feed_concurrency} concurrent",
                        "kind": "closed",
                        "concurrency": p.feed_concurrency,
                        "requests": [request],
                        "warmupS": warmup,
                    },
                ],
            )
    return results


def likes(ctx: Context) -> Result:
    """POST and DELETE /posts/{id}/like alternating, closed loop, one user-service process;
    each client on ten posts of its own, so that no two wait for one post's row lock."""
    p = ctx.profile
    clients = ctx.accounts[: p.likes_concurrency]
    author = ctx.accounts[p.likes_concurrency]
    ctx.db.run(
        "INSERT INTO posts (author_id, content, created_at) "
        "SELECT $1, 'likeable ' || g, now() FROM generate_series(1, $2) g",
        author.id,
        10 * len(clients),
    )
    post_ids = ctx.db.fetch_ids("SELECT id FROM posts WHERE author_id = $1 ORDER BY id", author.id)
    requests = [
        {"method": method, "path": f"/posts/{post_id}/like", "headers": client.headers}
        for i, client in enumerate(clients)
        for post_id in post_ids[10 * i : 10 * i + 10]
        for method in ("POST", "DELETE")
    ]
    server = pinned_server("user", _serve("user"), env=ctx.db.service_env(), log_dir=ctx.log_dir)
    with running(server):
        return _http(
            ctx,
            server,
            p.likes_seconds,
            [
                {
                    "name": "like+unlike",
                    "kind": "closed",
                    "concurrency": p.likes_concurrency,
                    "requests": requests,
                    "warmupS": min(1.0, p.likes_seconds / 4),
                },
            ],
        )


def notifications(ctx: Context) -> Result:
    """GET /notifications (first page, and a page deep in the list) for a person with
    `notifications` of them, open loop at a fixed rate."""
    p = ctx.profile
    reader, *actors = ctx.db.create_accounts(51, prefix="notified")
    started = time.monotonic()
    ctx.db.seed_notifications(
        user_id=reader.id, actors=[a.id for a in actors], count=p.notifications
    )
    ctx.say(f"  seeded {p.notifications:,} notifications in {time.monotonic() - started:.1f} s")
    server = pinned_server("user", _serve("user"), env=ctx.db.service_env(), log_dir=ctx.log_dir)
    results: Result = {"notifications": p.notifications}
    with running(server):
        first = httpx.get(server.url + "/notifications?limit=20", headers=reader.headers).json()
        results["first"] = _http(
            ctx,
            server,
            p.notifications_seconds,
            [
                {
                    "name": f"GET /notifications, {p.notifications_rate:.0f} req/s",
                    "kind": "open",
                    "rate": p.notifications_rate,
                    "requests": [
                        {"method": "GET", "path": "/notifications", "headers": reader.headers}
                    ],
                    "warmupS": min(1.0, p.notifications_seconds / 4),
                },
                {
                    "name": f"GET /notifications/unread, {p.notifications_rate / 5:.0f} req/s",
                    "kind": "open",
                    "rate": p.notifications_rate / 5,
                    "requests": [
                        {
                            "method": "GET",
                            "path": "/notifications/unread",
                            "headers": reader.headers,
                        }
                    ],
                    "warmupS": min(1.0, p.notifications_seconds / 4),
                },
            ],
        )
        results["first_page_items"] = len(first["items"])
    return results


def _http(
    ctx: Context, server: ServerProcess, seconds: float, workloads: Sequence[dict[str, Any]]
) -> Result:
    plan = {"baseUrl": server.url, "durationS": seconds, "workloads": list(workloads)}
    result = run_loadgen("http.mjs", plan, ctx.work_dir)
    for w in result["workloads"]:
        ctx.say(
            f"  {w['name']}: {w['rps']} req/s p50 {w['p50_ms']} p99 {w['p99_ms']} ms"
            f" {w['statuses']}"
        )
    return result
