"""Server CPU per request for the user service's hot endpoints, for before/after pairs on a
shared machine (bench/TUNING.md): wall-clock req/s move with other people's load, the
server's own CPU time per request much less.

    python -m bench.http_cpu setup STATE.json          seed a database at bench scale, keep it
    python -m bench.http_cpu run STATE.json [--source DIR] [--only follow,feed_quiet,...]
    python -m bench.http_cpu drop STATE.json           drop that database

`run` starts `gochat serve user` from `--source` (a checkout; default this one) pinned to
core 1, warms each workload up, then reads the process's CPU time (`/proc`) around a closed
loop of the Node load generator on core 0: CPU ms per request = CPU seconds / requests.
The open-loop rows (50 req/s) give the latency targets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.database import Account, BenchDatabase, _execute, plain_dsn, server_url
from bench.processes import SERVER_CPU, cpu_seconds, pinned, run_loadgen
from gochat.processes import ServerProcess, running
from shared.tokens import generate_key_pair, write_key_pair

ROOT = Path(__file__).resolve().parent.parent


def setup(state_path: Path, *, posts: int, notifications: int) -> None:
    import secrets

    from sqlalchemy.engine import make_url

    from shared.schema import upgrade_to_head

    name = f"gochat_httpcpu_{secrets.token_hex(4)}"
    import asyncio

    asyncio.run(_execute(plain_dsn(server_url()), f'CREATE DATABASE "{name}"'))
    url = make_url(server_url()).set(database=name).render_as_string(hide_password=False)
    keys_dir = state_path.parent / f"{name}-keys"
    write_key_pair(keys_dir, generate_key_pair())
    try:
        upgrade_to_head(url)
        db = BenchDatabase(url=url, keys_dir=keys_dir)
        accounts = db.create_accounts(200, prefix="bench")
        n = 1000
        busy, quiet_reader, *authors = db.create_accounts(3 * n + 2, prefix="feed")
        quiet, followed, others = authors[:n], authors[n : 2 * n], authors[2 * n :]
        started = time.monotonic()
        db.seed_feed(
            reader_id=quiet_reader.id,
            followed=[a.id for a in quiet],
            authors=[a.id for a in quiet],
            posts=10 * n,
        )
        db.seed_feed(
            reader_id=busy.id,
            followed=[a.id for a in followed],
            authors=[a.id for a in followed + others],
            posts=posts,
        )
        db.seed_reactions(
            reader_id=busy.id,
            followed=[a.id for a in followed],
            # The bench's 20,000 and 5,000 at 1,000,000 posts; as many in proportion below it.
            reposts=min(20_000, posts // 50),
            likes=min(5_000, posts // 200),
        )
        notified, *actors = db.create_accounts(51, prefix="notified")
        db.seed_notifications(
            user_id=notified.id, actors=[a.id for a in actors], count=notifications
        )
        likers = accounts[:32]
        author = accounts[32]
        db.run(
            "INSERT INTO posts (author_id, content, created_at) "
            "SELECT $1, 'likeable ' || g, now() FROM generate_series(1, $2) g",
            author.id,
            10 * len(likers),
        )
        like_posts = db.fetch_ids(
            "SELECT id FROM posts WHERE author_id = $1 ORDER BY id", author.id
        )
        print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
        state = {
            "url": url,
            "name": name,
            "keys_dir": str(keys_dir),
            "accounts": [dataclasses.asdict(a) for a in accounts],
            "busy": dataclasses.asdict(busy),
            "quiet": dataclasses.asdict(quiet_reader),
            "notified": dataclasses.asdict(notified),
            "like_posts": like_posts,
        }
        state_path.write_text(json.dumps(state))
    except BaseException:
        asyncio.run(_execute(plain_dsn(server_url()), f'DROP DATABASE "{name}" WITH (FORCE)'))
        raise


def _account(raw: dict[str, Any]) -> Account:
    return Account(**raw)


def workloads(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    accounts = [_account(a) for a in state["accounts"]]
    followers, targets = accounts[:32], accounts[40:90]
    follow_requests = [
        {"method": "POST", "path": path, "headers": f.headers}
        for f in followers
        for t in targets
        for path in (f"/follow?toFollowId={t.id}", f"/unfollow?toUnfollowId={t.id}")
    ]
    likers = accounts[:32]
    posts = state["like_posts"]
    like_requests = [
        {"method": method, "path": f"/posts/{post_id}/like", "headers": c.headers}
        for i, c in enumerate(likers)
        for post_id in posts[10 * i : 10 * i + 10]
        for method in ("POST", "DELETE")
    ]
    busy, quiet, notified = (_account(state[k]) for k in ("busy", "quiet", "notified"))

    def get(path: str, who: Account) -> list[dict[str, Any]]:
        return [{"method": "GET", "path": path, "headers": who.headers}]

    return {
        "follow": {"requests": follow_requests, "concurrency": 32, "rate": 50},
        "like": {"requests": like_requests, "concurrency": 32, "rate": 50},
        "feed_busy": {"requests": get("/feed", busy), "concurrency": 8, "rate": 50},
        "feed_quiet": {"requests": get("/feed", quiet), "concurrency": 8, "rate": 50},
        "notifications": {
            "requests": get("/notifications", notified),
            "concurrency": 8,
            "rate": 50,
        },
        "unread": {
            "requests": get("/notifications/unread", notified),
            "concurrency": 8,
            "rate": 50,
        },
        # The floor: a request through the whole stack (uvicorn, middleware, routing, a
        # response model) that neither authenticates nor touches the database.
        "liveness": {
            "requests": [{"method": "GET", "path": "/", "headers": {}}],
            "concurrency": 32,
        },
    }


def run(
    state_path: Path, *, source: Path, only: set[str] | None, seconds: float, profile: Path | None
) -> None:
    state = json.loads(state_path.read_text())
    env = {
        **os.environ,
        "GOCHAT_ENV": "production",
        "GOCHAT_DATABASE_URL": state["url"],
        "GOCHAT_JWT_PUBLIC_KEY_FILE": str(Path(state["keys_dir"]) / "jwt_public.pem"),
        "GOCHAT_LOG_LEVEL": "warning",
        "PYTHONPATH": str(source),
    }
    pub = [p for p in Path(state["keys_dir"]).iterdir() if "public" in p.name]
    env["GOCHAT_JWT_PUBLIC_KEY_FILE"] = str(pub[0])
    argv = [sys.executable, "-m", "gochat.cli", "serve", "user", "--port", "{port}"]
    if profile is not None:  # py-spy samples the server (it starts it, so no ptrace rights)
        spy = str(Path(sys.executable).parent / "py-spy")
        argv = [spy, "record", "-o", str(profile), "-f", "raw", "-r", "200", "--", *argv]
    server = ServerProcess(
        name="user",
        argv=pinned(argv, SERVER_CPU),
        env=env,
        log_path=Path(tempfile.gettempdir()) / "httpcpu-user.log",
        cwd=source,
        stop_signal=2,
    )
    work = Path(tempfile.mkdtemp(prefix="httpcpu-"))
    print(f"source {source}  load {os.getloadavg()}", flush=True)
    with running(server):
        assert server.proc is not None
        pid = server.proc.pid
        if profile is not None:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            pid = int(children[0])
        check = httpx.get(server.url + "/feed", headers=_account(state["busy"]).headers)
        assert check.status_code == 200, check.text
        for name, w in workloads(state).items():
            if only and name not in only:
                continue

            def load(
                duration: float, w: dict[str, Any] = w, name: str = name, **workload: Any
            ) -> dict[str, Any]:
                spec = {"requests": w["requests"], "warmupS": 0, "name": name, **workload}
                plan = {"baseUrl": server.url, "durationS": duration, "workloads": [spec]}
                return dict(run_loadgen("http.mjs", plan, work)["workloads"][0])

            # Warm-up: connections in the pool, statements compiled and cached.
            load(2, kind="closed", concurrency=w["concurrency"])
            cpu0 = cpu_seconds(pid)
            r = load(seconds, kind="closed", concurrency=w["concurrency"])
            cpu = cpu_seconds(pid) - cpu0
            line = (
                f"{name:14s} closed c={w['concurrency']}: {r['rps']:7.1f} req/s  "
                f"CPU {1000 * cpu / max(1, r['requests']):6.3f} ms/req  "
                f"p50 {r['p50_ms']} p99 {r['p99_ms']}  {r['statuses']}"
            )
            if "rate" in w:
                cpu0 = cpu_seconds(pid)
                opened = load(seconds, kind="open", rate=w["rate"], warmupS=1)
                # Every request of the open loop is served, its warm-up second's too.
                per_request = 1000 * (cpu_seconds(pid) - cpu0) / (w["rate"] * (seconds + 1))
                line += (
                    f"\n{'':14s} open {w['rate']} req/s: CPU {per_request:6.3f} ms/req"
                    f" p50 {opened['p50_ms']} "
                    f"p90 {opened['p90_ms']} p99 {opened['p99_ms']} max {opened['max_ms']}"
                    f"  {opened['statuses']}"
                )
            print(line, f" load {os.getloadavg()[0]:.2f}", flush=True)


def drop(state_path: Path) -> None:
    import asyncio

    state = json.loads(state_path.read_text())
    asyncio.run(
        _execute(plain_dsn(server_url()), f'DROP DATABASE IF EXISTS "{state["name"]}" WITH (FORCE)')
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_cpu")
    parser.add_argument("command", choices=["setup", "run", "drop"])
    parser.add_argument("state", type=Path)
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--only")
    parser.add_argument("--profile", type=Path, help="py-spy the server into this file")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--notifications", type=int, default=100_000)
    args = parser.parse_args()
    if args.command == "setup":
        setup(args.state, posts=args.posts, notifications=args.notifications)
    elif args.command == "run":
        only = set(args.only.split(",")) if args.only else None
        run(
            args.state,
            source=args.source.resolve(),
            only=only,
            seconds=args.seconds,
            profile=args.profile,
        )
    else:
        drop(args.state)


if __name__ == "__main__":
    main()
