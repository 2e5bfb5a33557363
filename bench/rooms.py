"""The scenarios of issue 15 that chat traffic looks like: many small rooms with every member
sending, how fast sockets are admitted, a reconnect storm, and the server's pauses meanwhile.

Each starts its servers fresh and returns a plain dict of figures that `bench.report` renders.
The load generator is `loadgen/fanout.mjs` (its "fanout" mode with a room per client, and its
"storm" mode).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.processes import LoadGenerator, rss_kib
from bench.profiles import ManyRooms, Storm
from bench.scenarios import Context, Result
from bench.systems import GOCHAT, ClientSpec, System
from gochat.processes import ServerProcess, running

PAUSE_HISTOGRAMS = ("gochat_event_loop_lag_seconds", "gochat_gc_pause_seconds")
STALL_SECONDS = 0.05  # the bound: no event-loop stall over 50 ms


# ---- the server's pause histograms -------------------------------------------------------------

Buckets = dict[str, dict[float, float]]  # histogram -> upper bound -> cumulative count


def read_pauses(server: ServerProcess) -> Buckets:
    """The cumulative buckets of GoChat's pause histograms, summed over their labels (the
    collections' generations)."""
    text = httpx.get(server.url + "/metrics", timeout=30).text
    buckets: Buckets = {name: {} for name in PAUSE_HISTOGRAMS}
    for family in text_string_to_metric_families(text):
        if family.name not in buckets:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                counts = buckets[family.name]
                counts[bound] = counts.get(bound, 0.0) + sample.value
    return buckets


def pauses_between(before: Buckets, after: Buckets) -> dict[str, Any]:
    """Per histogram: how many were observed in between, the bucket the longest fell in (its
    upper bound in seconds; None when nothing was observed, inf past the last bound) and how
    many took longer than `STALL_SECONDS`."""
    figures: dict[str, Any] = {}
    for name in PAUSE_HISTOGRAMS:
        delta = {
            bound: count - before[name].get(bound, 0.0) for bound, count in after[name].items()
        }
        total = delta.get(math.inf, 0.0)
        reached = min((b for b, count in delta.items() if count >= total), default=None)
        figures[name] = {
            "count": int(total),
            "max_bucket_s": None if total == 0 else reached,
            "over_50ms": int(total - delta.get(STALL_SECONDS, 0.0)),
        }
    return figures


# ---- many small rooms ----------------------------------------------------------------------


def _room_clients(
    ctx: Context, system: System, server: ServerProcess, rooms: Sequence[str], members: int
) -> list[ClientSpec]:
    """`members` clients in each room, interleaved (client k is in room k mod rooms), so
    that consecutive sends go to different rooms, as traffic from many people does."""
    clients = []
    for k in range(len(rooms) * members):
        spec = system.client(server, rooms[k % len(rooms)], ctx.accounts[k])
        spec["room"] = k % len(rooms)
        clients.append(spec)
    return clients


def _say_event(ctx: Context, label: str) -> Callable[[dict[str, Any]], None]:
    def on_event(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "opened":
            ctx.say(
                f"  {label}: {event['ready']}/{event['clients']} open in {event['seconds']:.1f} s"
                f" ({event.get('admitted_per_s')}/s, cpu srv {event.get('server_cpu')}"
                f" gen {event.get('loadgen_cpu')}) {event.get('failures') or ''}"
            )
        elif kind in ("step", "fixed"):
            verdict = "" if kind == "fixed" else (" ok" if event.get("ok") else " FAIL")
            if event.get("repeats"):
                p99s = ", ".join(str(r["p99_ms"]) for r in event["repeats"])
                verdict += f" (p99 of each run: {p99s})"
            if event.get("aborted"):
                verdict += " (aborted: server fell behind)"
            ctx.say(
                f"  {label} {kind} {event['rate']:.1f} msg/s -> {event['messages_per_s']} msg/s"
                f" {event['deliveries_per_s']} del/s p50 {event['p50_ms']} p99 {event['p99_ms']}"
                f" ms lost {event['lost']} dup {event['doubled']} misrouted {event['misrouted']}"
                f" err {event['errors']} cpu srv {event['server_cpu']} gen {event['loadgen_cpu']}"
                f"{verdict}"
            )

    return on_event


def many_rooms(ctx: Context, system: System, spec: ManyRooms) -> Result:
    """`spec.rooms` rooms of `spec.members`, every member sending: the admission of all the
    sockets, a fixed rate, then the open-loop ramp; for GoChat, its pause histograms over
    each phase and the messages it stored."""
    rooms = [ctx.room(f"rooms{i}") for i in range(spec.rooms)]
    gochat = system is GOCHAT
    if gochat:
        ctx.db.create_rooms(rooms)
    server = system.server(ctx.log_dir, ctx.db.service_env() if gochat else {})
    label = f"{system.key} {spec.rooms}x{spec.members}"
    say = _say_event(ctx, label)
    result: Result = {}
    marks: dict[str, Buckets] = {}
    with running(server):
        clients = _room_clients(ctx, system, server, rooms, spec.members)
        plan = {
            "mode": "fanout",
            "protocol": system.protocol,
            "clients": clients,
            "watchPids": [server.pid],
            "payloadBytes": ctx.profile.payload_bytes,
            "senders": len(clients),  # every member sends
            "perSenderRate": system.per_sender_rate,
            "warmupS": spec.ramp.warmup_s,
            "durationS": spec.ramp.duration_s,
            "fixedRate": spec.fixed_rate,
            "fixedS": spec.fixed_s,
            "connectConcurrency": spec.connect_concurrency,
            "connectTimeoutS": 120,
            # A stall of a second or more (a full collection over 10,000 connections) must
            # fail the run it lands in, not abort it; what was sent is waited for longer.
            "abortMs": 3000,
            "drainS": 10,
            # Between runs, until nothing has arrived for 0.5 s (a backlog worked off), at
            # most a minute: a run must not start behind the one before.
            "quietCapS": 60,
            "syncPhases": True,
            "ramp": {**spec.ramp.plan(), "confirmS": spec.ramp.duration_s},
        }
        if gochat:
            marks["started"] = read_pauses(server)
        with LoadGenerator("fanout.mjs", plan, ctx.work_dir) as loadgen:
            for event in loadgen.events():
                say(event)
                kind = event.get("event")
                if kind == "opened":
                    result["opened"] = event
                    result["rss_open_kib"] = rss_kib(server.pid)
                    if gochat:
                        marks["opened"] = read_pauses(server)
                    loadgen.tell("go")
                elif kind in ("fixed", "ramped"):
                    if gochat:
                        marks[kind] = read_pauses(server)
                    loadgen.tell("go")
                elif kind == "result":
                    result.update(event)
        if gochat:
            marks["end"] = read_pauses(server)
    result.update(
        system=system.key,
        rooms=spec.rooms,
        members=spec.members,
        fixed_s=spec.fixed_s,
        repeats=spec.ramp.repeats,
        connect_concurrency=spec.connect_concurrency,
    )
    if gochat:
        result["pauses"] = {
            phase: pauses_between(marks[start], marks[end])
            for phase, start, end in (
                ("opening", "started", "opened"),
                ("fixed", "opened", "fixed"),
                ("ramp", "fixed", "ramped"),
                ("closing", "ramped", "end"),
            )
            if start in marks and end in marks
        }
        result["stored"] = ctx.db.messages_stored(rooms)
        result["sent"] = result["messages_sent"]
        ctx.say(f"  {label}: {result['stored']:,} stored of {result['sent']:,} sent")
    return result


# ---- reconnect storm ---------------------------------------------------------------------------


def reconnect_storm(ctx: Context, spec: Storm) -> Result:
    """GoChat only: every room's members drop at once, miss messages, and reconnect all at
    once with `?after=` while the rooms' talkers go on; until when, and was anything lost."""
    rooms = [ctx.room(f"storm{i}") for i in range(spec.rooms)]
    ctx.db.create_rooms(rooms)
    server = GOCHAT.server(ctx.log_dir, ctx.db.service_env())
    say = _say_event(ctx, f"storm {spec.rooms}x{spec.members}")
    result: Result = {}
    marks: dict[str, Buckets] = {}
    with running(server):
        clients: list[ClientSpec] = []
        for r, room in enumerate(rooms):
            for m in range(spec.members + 1):
                client = GOCHAT.client(server, room, ctx.accounts[len(clients)])
                clients.append({**client, "room": r, "talker": m == 0})
        plan = {
            "mode": "storm",
            "protocol": GOCHAT.protocol,
            "clients": clients,
            "watchPids": [server.pid],
            "payloadBytes": ctx.profile.payload_bytes,
            "before": spec.before,
            "missed": spec.missed,
            "duringRate": spec.during_rate,
            "rate": spec.rate,
            "connectConcurrency": spec.connect_concurrency,
            "stormConcurrency": spec.storm_concurrency,
            "connectTimeoutS": 120,
            "attempts": 5,
            "drainS": 30,
        }
        with LoadGenerator("fanout.mjs", plan, ctx.work_dir) as loadgen:
            for event in loadgen.events():
                kind = event.get("event")
                if kind == "opened":
                    say(event)
                elif kind == "away":
                    marks["away"] = read_pauses(server)
                elif kind == "result":
                    marks["end"] = read_pauses(server)
                    result.update(event)
    result["pauses"] = pauses_between(marks["away"], marks["end"]) if len(marks) == 2 else None
    result["stored"] = ctx.db.messages_stored(rooms)
    ctx.say(
        f"  storm: {result.get('back')}/{result.get('members')} back in {result.get('back_s')} s"
        f" ({result.get('admitted_per_s')}/s, {result.get('retries')} retries,"
        f" {result.get('gave_up')} gave up), caught up in {result.get('caught_up_s')} s;"
        f" lost {result.get('lost')} dup {result.get('doubled')}"
        f" misrouted {result.get('misrouted')}; closed after: {result.get('talkers_closed')}"
        f" talkers {result.get('talker_close_codes')}, {result.get('members_closed')} members;"
        f" {result['stored']:,} stored of"
        f" {result['sent']:,} sent; cpu srv {result.get('server_cpu')}"
        f" gen {result.get('loadgen_cpu')}"
    )
    return result
