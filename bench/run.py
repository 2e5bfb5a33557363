"""`make bench` (`python -m bench.run`): every scenario of issues 7 and 15 against GoChat and
its peers in one invocation, then bench/RESULTS.md and bench/latency.png.

    python -m bench.run                 the full run
    python -m bench.run --smoke         every scenario tiny, in seconds (CI keeps it working)
    python -m bench.run --only fanout,idle --systems gochat,starlette
    python -m bench.run --only rooms,storm --rooms 100x10 --storm 50x10    medium sizes

Servers run one at a time on core 1 (`taskset -c 1`), the Node load generator on core 0,
everything on 127.0.0.1 against a PostgreSQL database the run creates and drops.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from bench import events, report, rooms, scaleout, scenarios, unread
from bench.database import bench_database
from bench.processes import ensure_node_modules, raise_open_files_limit
from bench.profiles import FULL, ROOMS_FULL, ROOMS_SMOKE, SMOKE, Profile, RoomsProfile
from bench.systems import ALL_SYSTEMS, GOCHAT, ROOMS_SYSTEMS, System

SCENARIOS = (
    "fanout",
    "idle",
    "cluster",
    "rooms",
    "storm",
    "scaleout",
    "login",
    "follow",
    "feed",
    "likes",
    "notifications",
    "events",
    "unread",
)
BENCH_DIR = Path(__file__).resolve().parent


def redis_url() -> str | None:
    url = (
        os.environ.get("GOCHAT_BENCH_REDIS_URL")
        or os.environ.get("GOCHAT_TEST_REDIS_URL")
        or "redis://127.0.0.1:6379/0"
    )
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return None
    return url


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="every scenario tiny, in seconds")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument(
        "--systems",
        default=",".join(s.key for s in ALL_SYSTEMS),
        help="websocket systems, comma-separated",
    )
    parser.add_argument(
        "--clients", help="room sizes of the fan-out, comma-separated (default: the profile's)"
    )
    parser.add_argument(
        "--rooms",
        type=_rooms_size,
        metavar="ROOMSxMEMBERS",
        help="size of the many-rooms scenario, e.g. 100x10 (default: the profile's)",
    )
    parser.add_argument(
        "--storm",
        type=_rooms_size,
        metavar="ROOMSxMEMBERS",
        help="size of the reconnect storm, e.g. 50x10 (default: the profile's)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where RESULTS.md, latency.png and results.json go "
        "(default: bench/ for the full run, a temporary directory for --smoke)",
    )
    return parser.parse_args(argv)


def _rooms_size(text: str) -> tuple[int, int]:
    rooms, _, members = text.partition("x")
    try:
        size = int(rooms), int(members)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected ROOMSxMEMBERS, e.g. 100x10, not {text!r}"
        ) from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError("rooms and members must be at least 1")
    return size


def rooms_profile(args: argparse.Namespace) -> RoomsProfile:
    profile = ROOMS_SMOKE if args.smoke else ROOMS_FULL
    if args.rooms:
        many = dataclasses.replace(profile.many_rooms, rooms=args.rooms[0], members=args.rooms[1])
        profile = dataclasses.replace(profile, many_rooms=many)
    if args.storm:
        storm = dataclasses.replace(profile.storm, rooms=args.storm[0], members=args.storm[1])
        profile = dataclasses.replace(profile, storm=storm)
    return profile


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile: Profile = SMOKE if args.smoke else FULL
    room_sizes = rooms_profile(args)
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    wanted = {key.strip() for key in args.systems.split(",") if key.strip()}
    unknown = (only - set(SCENARIOS)) | (wanted - {s.key for s in ALL_SYSTEMS})
    if unknown:
        sys.exit(f"bench: unknown scenario or system: {', '.join(sorted(unknown))}")
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])

    # SIGTERM unwinds like Ctrl-C: servers stopped, load generator ended, database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise_open_files_limit(
        4 * max(profile.idle_sockets, room_sizes.many_rooms.sockets, room_sizes.storm.sockets)
        + 1024
    )
    ensure_node_modules()
    started = time.monotonic()
    load_before = os.getloadavg()
    results: dict[str, Any] = {"profile": profile.name, "errors": {}, "notes": []}

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {line}", flush=True)

    with tempfile.TemporaryDirectory(prefix="gochat-bench-") as tmp:
        work_dir = Path(tmp)
        out_dir = args.out or (work_dir / "out" if args.smoke else BENCH_DIR)
        out_dir.mkdir(parents=True, exist_ok=True)
        # Server logs outlive the run's temporary directory (bench/out/ is not committed).
        log_dir = (args.out or BENCH_DIR / "out") / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with bench_database(work_dir) as db:
            needed = max(
                [
                    profile.idle_sockets,
                    profile.cluster.clients,
                    2 * profile.follow_concurrency + 50,
                    profile.likes_concurrency + 1,
                ]
                + [f.clients for f in profile.fanouts]
                + [room_sizes.many_rooms.sockets, room_sizes.storm.sockets]
                + [room_sizes.scale_out.sockets]
                + [events.accounts_needed(args.smoke)]
            )
            accounts = db.create_accounts(needed, prefix="bench")
            say(f"database ready, {len(accounts)} accounts with live sessions")
            ctx = scenarios.Context(profile, work_dir, log_dir, db, accounts, redis_url(), say)

            def attempt(name: str, run: Callable[[], Any]) -> Any:
                try:
                    return run()
                except Exception as exc:
                    results["errors"][name] = f"{type(exc).__name__}: {exc}"
                    say(f"{name} FAILED: {exc}")
                    traceback.print_exc()
                    return None

            systems: list[System] = [s for s in ALL_SYSTEMS if s.key in wanted]
            if GOCHAT in systems and not attempt(
                "gochat", lambda: scenarios.gochat_ws_available(ctx)
            ):
                results["notes"].append("GoChat's ws_service does not serve the chat contract yet")
                systems.remove(GOCHAT)
            if "fanout" in only:
                results["fanout"] = {}
                sizes = {int(n) for n in args.clients.split(",")} if args.clients else None
                for spec in profile.fanouts:
                    if sizes is not None and spec.clients not in sizes:
                        continue
                    per_system = results["fanout"][str(spec.clients)] = {}
                    for system in systems:
                        if system.reference and not spec.with_reference:
                            continue
                        say(f"fanout N={spec.clients}: {system.label}")
                        per_system[system.key] = attempt(
                            f"fanout-{spec.clients}-{system.key}",
                            lambda system=system, spec=spec: scenarios.fanout(ctx, system, spec),
                        )
            if "idle" in only:
                results["idle"] = {}
                for system in systems:
                    say(f"idle sockets: {system.label}")
                    results["idle"][system.key] = attempt(
                        f"idle-{system.key}", lambda system=system: scenarios.idle(ctx, system)
                    )
            if "cluster" in only and GOCHAT in systems:
                if ctx.redis_url is None:
                    results["notes"].append("two instances skipped: no Redis answered")
                else:
                    say("two ws_service instances on Redis")
                    results["cluster"] = attempt(
                        "cluster", lambda: scenarios.cluster(ctx, ctx.redis_url or "")
                    )
            if "rooms" in only:
                many = room_sizes.many_rooms
                results["rooms"] = {}
                for system in systems:
                    if system.key not in ROOMS_SYSTEMS:
                        continue
                    say(f"many rooms {many.rooms}x{many.members}: {system.label}")
                    results["rooms"][system.key] = attempt(
                        f"rooms-{system.key}",
                        lambda system=system: rooms.many_rooms(ctx, system, many),
                    )
            if "storm" in only and GOCHAT in systems:
                storm = room_sizes.storm
                say(f"reconnect storm {storm.rooms}x{storm.members}: GoChat")
                results["storm"] = attempt("storm", lambda: rooms.reconnect_storm(ctx, storm))
            if "scaleout" in only and GOCHAT in systems:
                spread = room_sizes.scale_out
                say(f"scale-out: 2 instances x {spread.rooms} rooms x {spread.members}: GoChat")
                results["scaleout"] = attempt("scaleout", lambda: scaleout.scale_out(ctx, spread))
            if "events" in only and GOCHAT in systems:
                say("people's live streams (/ws/events): GoChat")
                results["events"] = attempt("events", lambda: events.event_streams(ctx))
            if "login" in only:
                say("auth service: login flood against GET /")
                results["login"] = attempt("login", lambda: scenarios.login_flood(ctx))
            if {"follow", "feed", "likes", "notifications"} & only:
                if not attempt("user", lambda: scenarios.user_service_available(ctx)):
                    results["notes"].append("user_service does not serve /feed yet")
                else:
                    if "follow" in only:
                        say("user service: follow/unfollow")
                        results["follow"] = attempt("follow", lambda: scenarios.follows(ctx))
                    if "feed" in only:
                        say("user service: feed")
                        results["feed"] = attempt("feed", lambda: scenarios.feed(ctx))
                    if "likes" in only:
                        say("user service: like/unlike")
                        results["likes"] = attempt("likes", lambda: scenarios.likes(ctx))
                    if "notifications" in only:
                        say("user service: notifications")
                        results["notifications"] = attempt(
                            "notifications", lambda: scenarios.notifications(ctx)
                        )
            if "unread" in only:
                say(f"chat service: my rooms by activity, {profile.unread_messages:,} messages")
                results["unread"] = attempt("unread", lambda: unread.my_rooms(ctx))
        results["run"] = report.run_info(
            command=command,
            seconds=time.monotonic() - started,
            load_before=load_before,
            load_after=os.getloadavg(),
        )
        # The raw figures: beside the report with --out, else in bench/out/ (not committed).
        raw_dir = args.out or BENCH_DIR / "out"
        (raw_dir / "results.json").write_text(json.dumps(results, indent=1))
        report.write(results, out_dir)
        say(f"wrote {out_dir / 'RESULTS.md'} in {time.monotonic() - started:.0f} s")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
