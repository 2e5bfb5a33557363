"""RESULTS.md and latency.png from one run's figures."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import events
from bench.processes import LOADGEN_DIR, ROOT
from bench.systems import ALL_SYSTEMS, PEERS
from shared.pauses import PAUSE_BUCKETS

LABELS = {s.key: s.label for s in ALL_SYSTEMS} | {"gochat-x2": "GoChat, 2 instances on Redis"}
TUNING_LOG = Path(__file__).resolve().parent / "TUNING.md"
PLOT_NAME = "latency.png"


def _command_output(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def run_info(
    *, command: str, seconds: float, load_before: tuple[float, ...], load_after: tuple[float, ...]
) -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    lock = json.loads((LOADGEN_DIR / "package-lock.json").read_text())
    return {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _command_output("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
        "seconds": round(seconds),
        "machine": f"{cpu}, {os.cpu_count()} cores, {mem_kib // 1024 // 1024} GiB, "
        f"Linux {platform.release()}",
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "versions": {
            "python": platform.python_version(),
            **{
                p: _version(p)
                for p in (
                    "uvicorn",
                    "websockets",
                    "starlette",
                    "fastapi",
                    "uvloop",
                    "orjson",
                    "python-socketio",
                    "python-engineio",
                    "asyncpg",
                    "sqlalchemy",
                )
            },
            "node": _command_output("node", "--version"),
            "ws (npm)": lock["packages"]["node_modules/ws"]["version"],
            "postgresql": _command_output("psql", "--version").replace("psql (PostgreSQL) ", ""),
            "redis": _command_output("redis-server", "--version").split(" ")[2].removeprefix("v=")
            if _command_output("redis-server", "--version") != "unknown"
            else "unknown",
        },
    }


# ---- helpers ---------------------------------------------------------------------------------


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        value = f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value}{unit}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None:
        return "–"
    if theirs == 0:
        return "∞" if ours > 0 else "–"
    return f"{ours / theirs:.2f}×"


def sustainable(result: dict[str, Any] | None) -> float | None:
    """Highest sustainable deliveries/s of a fan-out result: 0 when even the lowest step
    failed, None when the scenario did not run."""
    if not result or not result.get("ramp"):
        return None
    best = result["ramp"].get("best")
    return float(best["deliveries_per_s"]) if best else 0.0


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# ---- sections --------------------------------------------------------------------------------


def _ramp_bound(ramp: dict[str, Any], value: float | None) -> str:
    """What bounded a ramp's highest sustained figure, when it was not the server failing."""
    if value == 0 and ramp.get("steps"):
        lowest = min(step["rate"] for step in ramp["steps"])
        return f" (p99 > 100 ms even at {lowest:.1f} msg/s)"
    if ramp.get("loadgen_bound"):
        return " or more (the load generator's core was at its limit)"
    if ramp.get("ceiling_hit"):
        return " (the ramp's ceiling: more was not tried)"
    return ""


def _fanout_section(n: str, per_system: dict[str, Any]) -> list[str]:
    gochat = per_system.get("gochat")
    ours = sustainable(gochat)
    lines = [f"### Room fan-out, N = {int(n):,} clients in one room", ""]
    fixed_rows = []
    ramp_rows = []
    for key, result in per_system.items():
        if result is None:
            fixed_rows.append([LABELS[key], "failed (see errors)"] + ["–"] * 7)
            continue
        fixed = result.get("fixed") or {}
        fixed_rows.append(
            [
                LABELS[key],
                _fmt(fixed.get("rate")),
                _fmt(fixed.get("deliveries_per_s")),
                _fmt(fixed.get("p50_ms")),
                _fmt(fixed.get("p90_ms")),
                _fmt(fixed.get("p99_ms")),
                _fmt(fixed.get("max_ms")),
                f"{_fmt(fixed.get('lost'))} / {_fmt(fixed.get('doubled'))}",
                _fmt(fixed.get("server_cpu")),
            ]
        )
        ramp = result.get("ramp") or {}
        best = ramp.get("best") or {}
        confirm = ramp.get("confirm") or {}
        best_value = sustainable(result)
        ramp_rows.append(
            [
                LABELS[key],
                _fmt(best_value) + _ramp_bound(ramp, best_value),
                _fmt(best.get("p99_ms")),
                _fmt(best.get("server_cpu")),
                _fmt(best.get("loadgen_cpu")),
                _fmt(confirm.get("deliveries_per_s")),
                _fmt(confirm.get("p99_ms")),
                f"{_fmt(confirm.get('lost'))} / {_fmt(confirm.get('doubled'))}",
                _ratio(ours, best_value) if key != "gochat" else "1.00×",
            ]
        )
    remeasured = {
        key: sum(1 for step in (result.get("ramp") or {}).get("steps", []) if step.get("contended"))
        for key, result in per_system.items()
        if result
    }
    reference = per_system.get("reference")
    ceiling_note = []
    if reference and reference.get("ramp") and reference["ramp"].get("best"):
        best = reference["ramp"]["best"]
        ceiling_note = [
            f"The load generator's own ceiling: against the Node reference hub (one `write` per"
            f" member per message) it delivered {_fmt(best['deliveries_per_s'])} deliveries/s"
            f" at p99 {_fmt(best['p99_ms'])} ms using {_fmt(best['loadgen_cpu'])} of its core"
            f" (the hub: {_fmt(best['server_cpu'])}). A server that writes several frames at"
            " once costs it less per delivery (one read brings them all).",
            "",
        ]
    ours_best = ((gochat or {}).get("ramp") or {}).get("best") or {}
    if (ours_best.get("loadgen_cpu") or 0) >= 0.8:
        ceiling_note += [
            f"At GoChat's highest sustained step the load generator used"
            f" {_fmt(ours_best['loadgen_cpu'])} of its core (GoChat:"
            f" {_fmt(ours_best['server_cpu'])}): GoChat's figure is bounded by the load"
            " generator as much as by itself.",
            "",
        ]
    lines += [
        "Fixed rate (every system the same offered load; after warm-up):",
        "",
        *_table(
            [
                "system",
                "msg/s",
                "deliveries/s",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "max ms",
                "lost / doubled",
                "server CPU",
            ],
            fixed_rows,
        ),
        "",
        "Open-loop ramp (highest rate with p99 ≤ 100 ms and nothing lost, doubled or refused),"
        " then a run at 80 % of it:",
        "",
        *_table(
            [
                "system",
                "sustainable deliveries/s",
                "p99 ms there",
                "server CPU",
                "loadgen CPU",
                "80 %: deliveries/s",
                "80 %: p99 ms",
                "80 %: lost / doubled",
                "GoChat ÷ system",
            ],
            ramp_rows,
        ),
        "",
        *ceiling_note,
        "Failing steps measured while other work on the machine took more than 0.15 CPU were"
        " measured again (up to twice) before they counted: "
        + ", ".join(f"{LABELS[key]} {count}" for key, count in remeasured.items())
        + ".",
        "",
    ]
    return lines


def _idle_section(idle: dict[str, Any]) -> list[str]:
    rows = []
    for key, figures in idle.items():
        if figures is None:
            rows.append([LABELS[key], "failed", "–", "–", "–"])
            continue
        rows.append(
            [
                LABELS[key],
                f"{_fmt(figures.get('ready'))} / {_fmt(figures.get('sockets'))}",
                _fmt(figures.get("open_seconds")),
                _fmt((figures.get("rss_open_kib") or 0) / 1024),
                _fmt(figures.get("kib_per_socket")),
            ]
        )
    return [
        "### Idle sockets",
        "",
        "Sockets held open in rooms; RSS per socket = (server RSS with all open − RSS with the"
        " first few open) ÷ sockets opened.",
        "",
        *_table(
            ["system", "open / asked", "time to open s", "server RSS MiB", "KiB per socket"], rows
        ),
        "",
    ]


def _cluster_section(results: dict[str, Any]) -> list[str]:
    cluster = results.get("cluster")
    single = (results.get("fanout") or {}).get(str(_cluster_n(cluster)), {}).get("gochat")
    if not cluster:
        return []
    rows = []
    for label, result in (("one instance", single), ("two instances on Redis", cluster)):
        if not result:
            continue
        fixed = result.get("fixed") or {}
        best = (result.get("ramp") or {}).get("best") or {}
        rows.append(
            [
                label,
                _fmt(fixed.get("p50_ms")),
                _fmt(fixed.get("p99_ms")),
                f"{_fmt(fixed.get('lost'))} / {_fmt(fixed.get('doubled'))}",
                _fmt(sustainable(result)),
                _fmt(best.get("p99_ms")),
                _fmt(best.get("server_cpu")),
            ]
        )
    cost = _ratio(sustainable(cluster), sustainable(single))
    return [
        f"### Two ws_service instances on Redis, N = {_cluster_n(cluster):,}",
        "",
        "Clients alternate between the two instances (both pinned to the server core, so they"
        " share one core's budget as one instance does); every message crosses Redis.",
        "",
        *_table(
            [
                "GoChat",
                "fixed p50 ms",
                "fixed p99 ms",
                "lost / doubled",
                "sustainable deliveries/s",
                "p99 ms there",
                "server CPU (both)",
            ],
            rows,
        ),
        "",
        f"Two instances ÷ one: {cost}.",
        "",
    ]


def _cluster_n(cluster: dict[str, Any] | None) -> int:
    return int(cluster.get("clients", 0)) if cluster else 0


def _workload_rows(workloads: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            w["name"],
            _fmt(w["rps"]),
            _fmt(w["p50_ms"]),
            _fmt(w["p90_ms"]),
            _fmt(w["p99_ms"]),
            _fmt(w["max_ms"]),
            ", ".join(f"{k}: {v}" for k, v in sorted(w["statuses"].items())),
        ]
        for w in workloads
    ]


def _http_section(results: dict[str, Any]) -> list[str]:
    header = ["workload", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "statuses"]
    lines: list[str] = []
    login = results.get("login")
    if login:
        lines += [
            "### Login flood against `GET /` on one auth process",
            "",
            "Closed-loop logins (argon2id with the production parameters, 19 MiB, t=2) from"
            f" {login['concurrency']} concurrent clients, while `GET /` is sent at a fixed rate"
            " on the same process. 503 is the password-hash queue saying it is full, by design.",
            "",
            *_table(
                header,
                _workload_rows(login["quiet"]["workloads"] + login["flood"]["workloads"]),
            ),
            "",
        ]
    follow = results.get("follow")
    if follow:
        lines += [
            "### `/follow` + `/unfollow`",
            "",
            *_table(header, _workload_rows(follow["workloads"])),
            "",
        ]
    feed = results.get("feed")
    if feed:
        reactions = (
            f"; followees reposted {feed['reposts']:,} of the newest posts and the reader"
            f" liked {feed['likes']:,} (every post carries its counts and liked/reposted)"
            if "reposts" in feed
            else ""
        )
        lines += [
            f"### `GET /feed`: {feed['posts']:,} posts, the reader follows {feed['followed']:,}"
            + reactions,
            "",
            "Open loop at a fixed rate (the latency target), then closed loop (throughput).",
            "",
            *_table(
                header,
                _workload_rows(
                    [
                        w
                        for key in ("busy", "busy_closed", "quiet", "quiet_closed")
                        for w in feed[key]["workloads"]
                    ]
                ),
            ),
            "",
        ]
    likes = results.get("likes")
    if likes:
        lines += [
            "### `POST` + `DELETE /posts/{id}/like` on one user-service process",
            "",
            *_table(header, _workload_rows(likes["workloads"])),
            "",
        ]
    notifications = results.get("notifications")
    if notifications:
        lines += [
            f"### `GET /notifications`: a person with {notifications['notifications']:,}"
            " notifications",
            "",
            *_table(header, _workload_rows(notifications["first"]["workloads"])),
            "",
        ]
    unread = results.get("unread")
    if unread:
        lines += [
            f"### `GET /ws/getRooms?mine=true&limit=100`: {unread['reader_rooms']} rooms with"
            f" unread counts, {unread['messages']:,} messages in {unread['rooms']:,} rooms",
            "",
            *_table(header, _workload_rows(unread["latency"]["workloads"])),
            "",
            f"Server CPU per request: {_fmt(unread['server_cpu_ms'])} ms (the ws process, all"
            " of it: token check, session row, the page's statement, JSON). The page's"
            f" statement alone, {unread['statement']['runs']} times on one connection:"
            f" p50 {_fmt(unread['statement']['p50_ms'])} ms, p99"
            f" {_fmt(unread['statement']['p99_ms'])} ms (its EXPLAIN ANALYZE: bench/TUNING.md).",
            "",
        ]
    return (["## HTTP", "", *lines]) if lines else []


def _rooms_title(rooms: dict[str, Any]) -> str:
    first = next((r for r in rooms.values() if r), None)
    if first is None:
        return "Many small rooms"
    rooms, members = first["rooms"], first["members"]
    return f"Many small rooms: {rooms:,} rooms × {members} members ({rooms * members:,} sockets)"


def sustainable_messages(result: dict[str, Any] | None) -> float | None:
    """Highest sustainable messages/s (each delivered to every member of its room) of a
    many-rooms result: 0 when even the lowest step failed, None when it did not run."""
    if not result or not result.get("ramp"):
        return None
    best = result["ramp"].get("best")
    return float(best["messages_per_s"]) if best else 0.0


def _rooms_section(rooms: dict[str, Any]) -> list[str]:
    gochat = rooms.get("gochat")
    ours = sustainable_messages(gochat)
    fixed_rows = []
    ramp_rows = []
    for key, result in rooms.items():
        if result is None:
            fixed_rows.append([LABELS[key], "failed (see errors)"] + ["–"] * 7)
            continue
        fixed = result.get("fixed") or {}
        fixed_rows.append(
            [
                LABELS[key],
                _fmt(fixed.get("messages_per_s")),
                _fmt(fixed.get("deliveries_per_s")),
                _fmt(fixed.get("p50_ms")),
                _fmt(fixed.get("p99_ms")),
                _fmt(fixed.get("max_ms")),
                f"{_fmt(fixed.get('lost'))} / {_fmt(fixed.get('doubled'))}"
                f" / {_fmt(fixed.get('misrouted'))}",
                _fmt(fixed.get("server_cpu")),
                _fmt(fixed.get("loadgen_cpu")),
            ]
        )
        ramp = result.get("ramp") or {}
        best = ramp.get("best") or {}
        confirm = ramp.get("confirm") or {}
        value = sustainable_messages(result)
        runs = best.get("repeats") or []
        ramp_rows.append(
            [
                LABELS[key],
                _fmt(value) + _ramp_bound(ramp, value),
                _fmt(best.get("deliveries_per_s")),
                _fmt(best.get("p50_ms")),
                _fmt(best.get("p99_ms")),
                f"{best.get('passed', 1)} of {len(runs) or 1}" if best else "–",
                _fmt(best.get("server_cpu")),
                _fmt(best.get("loadgen_cpu")),
                f"{_fmt(confirm.get('messages_per_s'))}, p99 {_fmt(confirm.get('p99_ms'))},"
                f" {_fmt(confirm.get('lost'))} / {_fmt(confirm.get('doubled'))}"
                if confirm
                else "–",
                _ratio(ours, value) if key != "gochat" else "1.00×",
            ]
        )
    repeats = next((r["repeats"] for r in rooms.values() if r), 1)
    lines = [
        f"### {_rooms_title(rooms)}",
        "",
        "Every member sends (open loop, the rate spread evenly over all of them, consecutive"
        " messages in different rooms); each message goes to the members of its own room, the"
        " sender included. Lost / doubled / misrouted are counted per (sender, sequence) against"
        " each room's own members; lost means not delivered within 10 s of the run's last send"
        " (a server far behind loses that way too). The load generator's CPU is its own core's"
        " (at 0.8 or more it, not the server, may set the latency).",
        "",
        "Fixed rate (every system the same offered load; after warm-up):",
        "",
        *_table(
            [
                "system",
                "msg/s",
                "deliveries/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "lost / doubled / misrouted",
                "server CPU",
                "loadgen CPU",
            ],
            fixed_rows,
        ),
        "",
        f"Open-loop ramp: each step is run {repeats} times back to back and passes when most runs"
        " have p99 ≤ 100 ms and no run lost, doubled or was refused anything (so one stall"
        " cannot decide a step, while a loss always does); the figures are those of the run"
        " with the median p99. Then a run at 80 % of the highest step:",
        "",
        *_table(
            [
                "system",
                "sustainable msg/s (stored and delivered)",
                "deliveries/s",
                "p50 ms",
                "p99 ms",
                "runs passed",
                "server CPU",
                "loadgen CPU",
                "80 %: msg/s, p99 ms, lost / doubled",
                "GoChat ÷ system",
            ],
            ramp_rows,
        ),
        "",
    ]
    if gochat and "stored" in gochat:
        lines += [
            f"GoChat stored {gochat['stored']:,} messages of the {gochat['sent']:,} the load"
            " generator sent over the whole scenario, repeated runs included (a message is stored"
            " before it is delivered, so every delivered message counts as stored).",
            "",
        ]
    return lines


def _pause_cells(figures: dict[str, Any] | None) -> list[str]:
    if not figures:
        return ["–", "–", "–"]
    bound = figures["max_bucket_s"]
    if bound is None:
        reached = "none"
    elif bound == float("inf"):
        reached = f"> {_fmt(PAUSE_BUCKETS[-1] * 1000)} ms"
    else:
        reached = f"≤ {_fmt(bound * 1000)} ms"
    return [_fmt(figures["count"]), reached, _fmt(figures["over_50ms"])]


PAUSE_PHASES = {
    "opening": "opening the sockets",
    "fixed": "fixed rate, all sockets open",
    "ramp": "the ramp",
    "closing": "every socket cut at once, after the ramp",
}


def _pauses_section(results: dict[str, Any]) -> list[str]:
    gochat = (results.get("rooms") or {}).get("gochat") or {}
    storm = results.get("storm") or {}
    phases = [
        (PAUSE_PHASES[phase], figures) for phase, figures in (gochat.get("pauses") or {}).items()
    ]
    if storm.get("pauses"):
        phases.append(("reconnect storm", storm["pauses"]))
    rows = [
        [
            label,
            *_pause_cells(figures.get("gochat_event_loop_lag_seconds")),
            *_pause_cells(figures.get("gochat_gc_pause_seconds")),
        ]
        for label, figures in phases
    ]
    if not rows:
        return []
    fixed = gochat.get("fixed") or {}
    return [
        "### Pauses: GoChat's event-loop lag and garbage-collection histograms",
        "",
        "Read from GoChat's `/metrics` (`gochat_event_loop_lag_seconds`: how late a task that"
        " slept 0.1 s woke; `gochat_gc_pause_seconds`: each cyclic collection, all generations)"
        " before and after each phase of the many-rooms scenario"
        + (
            f" (the fixed phase: {_fmt(fixed.get('rate'))} msg/s for {_fmt(gochat.get('fixed_s'))}"
            f" s with {_fmt(fixed.get('receivers'))} sockets open)"
            if fixed
            else ""
        )
        + " and of the reconnect storm. The longest is known to its bucket: ≤ 50 ms, ≤ 100 ms,"
        " ≤ 250 ms, ≤ 500 ms, ≤ 1 s, ≤ 2.5 s.",
        "",
        *_table(
            [
                "phase",
                "loop lag: samples",
                "longest",
                "over 50 ms",
                "GC: collections",
                "longest",
                "over 50 ms",
            ],
            rows,
        ),
        "",
    ]


def _handshakes_section(results: dict[str, Any]) -> list[str]:
    rooms = results.get("rooms") or {}
    ours = ((rooms.get("gochat") or {}).get("opened") or {}).get("admitted_per_s")
    rows = []
    for key, result in rooms.items():
        opened = (result or {}).get("opened")
        if not opened:
            continue
        rows.append(
            [
                LABELS[key],
                f"{_fmt(opened['ready'])} / {_fmt(opened['clients'])}",
                _fmt(opened["seconds"]),
                _fmt(opened["admitted_per_s"]),
                _fmt(opened.get("server_cpu")),
                _fmt(opened.get("loadgen_cpu")),
                _ratio(ours, opened["admitted_per_s"]) if key != "gochat" else "1.00×",
            ]
        )
    concurrency = next((r["connect_concurrency"] for r in rooms.values() if r), None)
    lines: list[str] = []
    if rows:
        lines += [
            "### Handshakes: sockets admitted per second, one process",
            "",
            f"The many-rooms scenario's sockets, opened with {concurrency} handshakes in flight;"
            " a socket counts once it is ready (GoChat: its `ready` frame, after admission and"
            " history).",
            "",
            *_table(
                [
                    "system",
                    "open / asked",
                    "seconds",
                    "sockets/s",
                    "server CPU",
                    "loadgen CPU",
                    "GoChat ÷ system",
                ],
                rows,
            ),
            "",
        ]
    storm = results.get("storm")
    if storm:
        lines += [
            "### Reconnect storm (GoChat)",
            "",
            f"{storm['rooms']:,} rooms, each with one talker that stays and"
            f" {storm['members'] // storm['rooms']} members; the {storm['members']:,} members"
            " drop at once, miss"
            f" {storm['missed_per_member']} messages each, then all reconnect at once with"
            " `?after=` the last id they saw while the talkers go on"
            f" ({storm['sent_during_storm']:,} messages meanwhile). A refused or timed-out"
            " handshake is tried again after a short random backoff (up to 5 times). Caught up:"
            " every member has every message of its room, history and live, exactly once.",
            "",
            *_table(
                [
                    "back / members",
                    "all back s",
                    "ready p50 s",
                    "ready p99 s",
                    "sockets/s",
                    "retries / gave up",
                    "all caught up s",
                    "lost / doubled / misrouted",
                    "server CPU",
                    "loadgen CPU",
                ],
                [
                    [
                        f"{_fmt(storm['back'])} / {_fmt(storm['members'])}",
                        _fmt(storm["back_s"]),
                        _fmt(storm["ready_p50_s"]),
                        _fmt(storm["ready_p99_s"]),
                        _fmt(storm["admitted_per_s"]),
                        f"{_fmt(storm['retries'])} / {_fmt(storm['gave_up'])}",
                        _fmt(storm["caught_up_s"]),
                        f"{_fmt(storm['lost'])} / {_fmt(storm['doubled'])}"
                        f" / {_fmt(storm['misrouted'])}",
                        _fmt(storm.get("server_cpu")),
                        _fmt(storm.get("loadgen_cpu")),
                    ]
                ],
            ),
            "",
            "Handshakes refused or failed (then tried again): "
            + (", ".join(f"{k}: {v}" for k, v in sorted(storm["failures"].items())) or "none")
            + f". Closed by the server afterwards: {storm['talkers_closed']} talkers,"
            f" {storm['members_closed']} members.",
            "",
        ]
    return lines


def _scaleout_section(result: dict[str, Any] | None) -> list[str]:
    """The report's section: per instance, what it spent and received."""
    if not result or not result.get("instances"):
        return []
    fixed: dict[str, Any] = result.get("fixed") or {}
    published = result.get("published")
    rows = []
    for n, figures in enumerate(result["instances"], start=1):
        received = figures.get("broker_events")
        own = "–" if received is None or not published else f"{received / published:.0%}"
        rows.append(
            [
                f"instance {n} ({figures['rooms']:,} rooms)",
                _fmt(figures.get("cpu_s"), " s"),
                _fmt(figures.get("cpu_us_per_frame"), " µs"),
                _fmt(figures.get("delivered")),
                _fmt(received),
                own,
                _fmt(figures.get("unwanted")),
            ]
        )
    return [
        f"### Scale-out: two instances, {result['rooms']:,} rooms × {result['members']} each",
        "",
        f"Two `gochat serve ws` on one Redis, pinned to the same core; each instance's clients"
        f" are in its own rooms only, every member sending, {_fmt(result['rate'])} msg/s in"
        f" all. Over the chatting phase: {_fmt(fixed.get('messages_per_s'))} msg/s,"
        f" p99 {_fmt(fixed.get('p99_ms'), ' ms')}, lost {_fmt(fixed.get('lost'))},"
        f" misrouted {_fmt(fixed.get('misrouted'))}; Redis carried {_fmt(published)} PUBLISHes."
        " An instance subscribes only to the channels of rooms with a local interest: with one"
        " cluster-wide channel (the design before) each would have received all of them.",
        "",
        *_table(
            [
                "",
                "CPU",
                "CPU per frame",
                "frames delivered",
                "broker events received",
                "of all published",
                "for rooms it no longer served",
            ],
            rows,
        ),
        "",
    ]


def _targets_15(results: dict[str, Any]) -> list[str]:
    rows = []
    rooms = results.get("rooms") or {}
    gochat = rooms.get("gochat")
    ours = sustainable_messages(gochat)
    if ours is not None:
        rows.append(
            [
                "many rooms: ≥ 5,000 msg/s stored and delivered, p99 ≤ 100 ms, nothing lost",
                f"{_fmt(ours)} msg/s",
                "met" if ours >= 5000 else "missed",
            ]
        )
        theirs = sustainable_messages(rooms.get("starlette"))
        if theirs is not None:
            rows.append(
                [
                    f"many rooms: ahead of the {LABELS['starlette']}",
                    _ratio(ours, theirs),
                    # Within 1 %: both passed the same ramp step, which cannot tell them apart.
                    "tied (same step)"
                    if abs(ours - theirs) <= 0.01 * max(ours, theirs)
                    else ("met" if ours > theirs else "missed"),
                ]
            )
    fixed_pauses = ((gochat or {}).get("pauses") or {}).get("fixed")
    if fixed_pauses:
        over = sum(figures["over_50ms"] for figures in fixed_pauses.values())
        rows.append(
            [
                "no pause: no loop stall or GC pause over 50 ms, all sockets open and chatting",
                f"{over} over 50 ms",
                "met" if over == 0 else "missed",
            ]
        )
    admitted = ((gochat or {}).get("opened") or {}).get("admitted_per_s")
    if admitted is not None:
        hub = (((rooms.get("starlette") or {}).get("opened")) or {}).get("admitted_per_s")
        ok = admitted >= 1500 and (hub is None or admitted >= hub)
        rows.append(
            [
                "handshakes: ≥ 1,500 sockets/s per process and ≥ the plain hub",
                f"{_fmt(admitted)}/s" + (f" (hub {_fmt(hub)}/s)" if hub is not None else ""),
                "met" if ok else "missed",
            ]
        )
    storm = results.get("storm")
    if storm:
        ok = storm["back"] == storm["members"] and storm["lost"] == 0 and storm["doubled"] == 0
        rows.append(
            [
                f"reconnect storm: {storm['members']:,} back and caught up, nothing lost",
                f"{_fmt(storm['caught_up_s'])} s, {storm['lost']} lost, {storm['doubled']} doubled",
                "met" if ok else "missed",
            ]
        )
    idle = results.get("idle") or {}
    ours_idle = (idle.get("gochat") or {}).get("kib_per_socket")
    if ours_idle is not None:
        hub_idle = (idle.get("starlette") or {}).get("kib_per_socket")
        rows.append(
            [
                "idle: ≤ 20 KiB per idle authenticated socket at 10,000 sockets",
                f"{ours_idle} KiB" + (f" (hub {hub_idle} KiB)" if hub_idle is not None else ""),
                "met" if ours_idle <= 20 else "missed",
            ]
        )
    follow = results.get("follow")
    if follow:
        rps = follow["workloads"][0]["rps"]
        rows.append(
            [
                "HTTP: follow+unfollow ≥ 2,000 req/s on one user-service process",
                f"{_fmt(rps)} req/s",
                "met" if rps is not None and rps >= 2000 else "missed",
            ]
        )
    feed = results.get("feed")
    if feed:
        for key in ("busy", "quiet"):
            closed = feed.get(f"{key}_closed")
            if not closed:
                continue
            rps = closed["workloads"][0]["rps"]
            rows.append(
                [
                    f"HTTP: /feed ≥ 400 req/s closed loop ({key} followees)",
                    f"{_fmt(rps)} req/s",
                    "met" if rps is not None and rps >= 400 else "missed",
                ]
            )
    spread = results.get("scaleout") or {}
    instances = spread.get("instances") or []
    published = spread.get("published")
    received = [figures.get("broker_events") for figures in instances]
    if published and received and None not in received:
        lost = (spread.get("fixed") or {}).get("lost")
        unwanted = sum(figures.get("unwanted") or 0 for figures in instances)
        shares = " / ".join(f"{n / published:.0%}" for n in received)
        ok = all(n <= 0.6 * published for n in received) and unwanted == 0 and lost == 0
        rows.append(
            [
                "scale-out: each instance receives only its own rooms' messages (two, disjoint)",
                f"{shares} of all PUBLISHes, {unwanted} unwanted, {lost} lost",
                "met" if ok else "missed",
            ]
        )
    if not rows:
        return []
    return ["## Targets (issue 15)", "", *_table(["target", "measured", "verdict"], rows), ""]


def _targets(results: dict[str, Any]) -> list[str]:
    rows = []
    fanout = (results.get("fanout") or {}).get("1000") or {}
    gochat = fanout.get("gochat")
    ours = sustainable(gochat)
    for peer in PEERS:
        theirs = sustainable(fanout.get(peer))
        if ours is not None and theirs is not None:
            met = (theirs == 0 and ours > 0) or (theirs > 0 and ours / theirs >= 1.5)
            ramp = (gochat or {}).get("ramp") or {}
            at_least = "≥ " if ramp.get("loadgen_bound") or ramp.get("ceiling_hit") else ""
            rows.append(
                [
                    f"fan-out N=1000 ≥ 1.5× {LABELS[peer]}",
                    at_least + _ratio(ours, theirs),
                    "met" if met else "missed",
                ]
            )
    if gochat and gochat.get("ramp") and gochat["ramp"].get("confirm"):
        confirm = gochat["ramp"]["confirm"]
        ok = (
            (confirm.get("p99_ms") or 1e9) <= 100
            and confirm["lost"] == 0
            and confirm["doubled"] == 0
        )
        rows.append(
            [
                "p99 ≤ 100 ms at 80 % of it, nothing lost or doubled",
                f"{_fmt(confirm.get('p99_ms'))} ms, {confirm['lost']} lost,"
                f" {confirm['doubled']} doubled",
                "met" if ok else "missed",
            ]
        )
    idle = (results.get("idle") or {}).get("gochat")
    if idle and idle.get("kib_per_socket") is not None:
        rows.append(
            [
                f"{idle['sockets']:,} idle sockets ≤ 30 KiB each",
                f"{idle['kib_per_socket']} KiB",
                "met"
                if idle["kib_per_socket"] <= 30 and idle.get("ready") == idle["sockets"]
                else "missed",
            ]
        )
    feed = results.get("feed")
    if feed:
        for key in ("busy", "quiet"):
            p99 = feed[key]["workloads"][0]["p99_ms"]
            rows.append(
                [
                    f"/feed p99 ≤ 20 ms at {feed['posts']:,} posts ({key} followees)",
                    f"{_fmt(p99)} ms",
                    "met" if p99 is not None and p99 <= 20 else "missed",
                ]
            )
    likes = results.get("likes")
    if likes:
        rps = likes["workloads"][0]["rps"]
        rows.append(
            [
                "like+unlike ≥ 2,000 req/s on one process",
                f"{_fmt(rps)} req/s",
                "met" if rps is not None and rps >= 2000 else "missed",
            ]
        )
    notifications = results.get("notifications")
    if notifications:
        p99 = notifications["first"]["workloads"][0]["p99_ms"]
        rows.append(
            [
                f"GET /notifications p99 ≤ 20 ms with {notifications['notifications']:,} of them",
                f"{_fmt(p99)} ms",
                "met" if p99 is not None and p99 <= 20 else "missed",
            ]
        )
    unread = results.get("unread")
    if unread:
        p99 = unread["latency"]["workloads"][0]["p99_ms"]
        rows.append(
            [
                f"my {unread['reader_rooms']} rooms with unread counts p99 ≤ 20 ms with"
                f" {unread['messages']:,} messages (issue 13)",
                f"{_fmt(p99)} ms",
                "met" if p99 is not None and p99 <= 20 else "missed",
            ]
        )
    login = results.get("login")
    if login:
        probe = login["flood"]["workloads"][1]
        rows.append(
            [
                "GET / p99 ≤ 50 ms during the login flood",
                f"{_fmt(probe['p99_ms'])} ms",
                "met" if probe["p99_ms"] is not None and probe["p99_ms"] <= 50 else "missed",
            ]
        )
    if not rows:
        return []
    header = ["target", "measured", "verdict"]
    return ["## Targets (issues 7 and 17)", "", *_table(header, rows), ""]


def _run_section(results: dict[str, Any]) -> list[str]:
    run = results["run"]
    versions = ", ".join(f"{k} {v}" for k, v in run["versions"].items())
    return [
        f"- Command: `{run['command'].strip()}` (profile `{results['profile']}`), "
        f"{run['seconds'] // 60} min {run['seconds'] % 60} s, {run['date']},"
        f" commit `{run['commit']}`.",
        f"- Machine: {run['machine']}. Load average (1/5/15 min) before the run "
        f"{' / '.join(map(str, run['load_before']))}, after"
        f" {' / '.join(map(str, run['load_after']))}"
        " (other work shares this machine; absolute numbers move ±25 % between runs, ratios in one"
        " run hold better).",
        f"- Versions: {versions}.",
        "- Every server is one process started fresh for each scenario and pinned to core 1"
        " (`taskset -c 1`); the Node load generator is pinned to core 0. PostgreSQL and Redis are"
        " not pinned. All on 127.0.0.1.",
        "- GoChat: `gochat serve ws|auth|user` with persistence on PostgreSQL (every message stored"
        " before it is broadcast), the in-process broker unless stated. The peers run on uvicorn"
        " with the same websocket stack as GoChat (sans-I/O protocol, no compression, uvloop,"
        " httptools) and keep nothing.",
        "- Messages are JSON text frames of about 120 bytes carrying the sender, its sequence"
        " number and the send time; latency is send → receive on the load generator's clock;"
        " every delivery is checked per (sender, sequence) for loss and duplicates. Senders are"
        " open loop; a rate is spread over enough senders to stay under GoChat's per-connection"
        " message limit (8 msg/s each), the same senders for every system.",
    ]


def write(results: dict[str, Any], out_dir: Path) -> None:
    lines = [
        "# GoChat benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`); do not edit by hand.",
        "",
    ]
    lines += ["## How this was measured", "", *_run_section(results), ""]
    lines += _targets(results)
    lines += _targets_15(results)
    websocket_keys = ("fanout", "idle", "cluster", "rooms", "storm", "scaleout", "events")
    if any(results.get(key) for key in websocket_keys):
        lines += ["## Websockets", ""]
        for n, per_system in (results.get("fanout") or {}).items():
            lines += _fanout_section(n, per_system)
        if any(results.get("fanout") or {}) or any(results.get("rooms") or {}):
            lines += [f"![p99 latency against offered load]({PLOT_NAME})", ""]
        if results.get("idle"):
            lines += _idle_section(results["idle"])
        lines += _cluster_section(results)
        if results.get("rooms"):
            lines += _rooms_section(results["rooms"])
        lines += _handshakes_section(results)
        lines += _scaleout_section(results.get("scaleout"))
        lines += events.section(results.get("events"))
        lines += _pauses_section(results)
    lines += _http_section(results)
    if results["notes"] or results["errors"]:
        lines += ["## Not measured in this run", ""]
        lines += [f"- {note}" for note in results["notes"]]
        lines += [f"- `{name}` failed: {error}" for name, error in results["errors"].items()]
        lines += [""]
    if TUNING_LOG.exists():
        lines += [TUNING_LOG.read_text().rstrip(), ""]
    (out_dir / "RESULTS.md").write_text("\n".join(lines))
    plot(results, out_dir / PLOT_NAME)


def plot(results: dict[str, Any], path: Path) -> None:
    """p99 against offered load, one panel per fan-out room size and one for many rooms, one
    line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (f"Room fan-out, {int(n):,} clients in one room", per_system, "offered_deliveries_per_s")
        for n, per_system in (results.get("fanout") or {}).items()
    ]
    if any((results.get("rooms") or {}).values()):
        panels.append((_rooms_title(results["rooms"]), results["rooms"], "rate"))
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    for ax, (title, per_system, x_key) in zip(axes[0], panels, strict=True):
        for key, result in per_system.items():
            if not result:
                continue
            steps = list((result.get("ramp") or {}).get("steps") or [])
            for extra in (result.get("fixed"), (result.get("ramp") or {}).get("confirm")):
                if extra:
                    steps.append(extra)
            # A rate measured again keeps its last measurement (the one that counted).
            by_rate = {s[x_key]: s["p99_ms"] for s in steps if s.get("p99_ms")}
            points = sorted(by_rate.items())
            if points:
                xs, ys = zip(*points, strict=True)
                style = "--" if key == "reference" else "-"
                ax.plot(xs, ys, style, marker="o", markersize=3, label=LABELS[key])
        ax.axhline(100, color="grey", linewidth=0.8, linestyle=":")
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel(
            "offered messages per second (log)"
            if x_key == "rate"
            else "offered deliveries per second (log)"
        )
        ax.set_ylabel("p99 latency, ms (log)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
