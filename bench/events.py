"""The people's live streams (`/ws/events`, issue 13): N people connected to their stream,
each a member of K of R rooms, while talkers send into the busiest rooms at a fixed rate.

Measured: how fast the streams open (each reads a snapshot: rooms, unread counts,
invitations, notifications) and the server's CPU per stream; then, under the chat traffic,
`room_activity` frames per second, the server's CPU per delivered frame and per message,
the coalescing ratio (the frames a stream without coalescing would have sent, one per
message per watcher, over those sent), and the latency from a talker's send to the
`room_activity` that shows it. The clients run in this process on core 0, the server alone
on core 1; CPU is the server process's own (user + system), which a busy machine distorts
less than a rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

from bench.database import Account
from bench.processes import cpu_seconds
from bench.scenarios import Context, Result
from bench.systems import GOCHAT
from gochat.processes import running

OPEN_TIMEOUT_SECONDS = 60.0  # a busy machine slows handshakes; the rate is what is measured


@dataclass(frozen=True)
class EventsProfile:
    people: int  # connected streams, one person each
    rooms: int
    rooms_per_person: int
    busy_rooms: int  # rooms with a talker
    rate_per_room: float  # messages per second in each busy room
    seconds: float
    connect_concurrency: int


EVENTS_FULL = EventsProfile(
    people=2000,
    rooms=200,
    rooms_per_person=5,
    busy_rooms=25,
    rate_per_room=20.0,
    seconds=10.0,
    connect_concurrency=20,
)
EVENTS_SMOKE = EventsProfile(
    people=10,
    rooms=4,
    rooms_per_person=2,
    busy_rooms=2,
    rate_per_room=10.0,
    seconds=1.0,
    connect_concurrency=5,
)


def accounts_needed(smoke: bool) -> int:
    spec = EVENTS_SMOKE if smoke else EVENTS_FULL
    return spec.people + spec.busy_rooms


def event_streams(ctx: Context) -> Result:
    spec = EVENTS_SMOKE if ctx.profile.name == "smoke" else EVENTS_FULL
    people = ctx.accounts[: spec.people]
    talkers = ctx.accounts[spec.people : spec.people + spec.busy_rooms]
    if len(talkers) < spec.busy_rooms:
        raise RuntimeError(f"needs {accounts_needed(ctx.profile.name == 'smoke')} accounts")
    rooms = [ctx.room("events") for _ in range(spec.rooms)]
    ctx.db.create_rooms(rooms)
    members: dict[str, list[int]] = {room: [] for room in rooms}
    stride = max(1, spec.rooms // spec.rooms_per_person)
    for n, person in enumerate(people):  # K rooms each, spread evenly
        for k in range(spec.rooms_per_person):
            members[rooms[(n + k * stride) % spec.rooms]].append(person.id)
    ctx.db.add_members(members)
    server = GOCHAT.server(ctx.log_dir, ctx.db.service_env())
    with running(server):
        affinity = os.sched_getaffinity(0)
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {0})  # the clients on core 0, away from the server
        try:
            result = asyncio.run(
                _measure(server.ws_url, server.pid, spec, people, talkers, rooms, members)
            )
        finally:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, affinity)
    result.update(
        people=spec.people,
        rooms=spec.rooms,
        rooms_per_person=spec.rooms_per_person,
        busy_rooms=spec.busy_rooms,
        rate=spec.busy_rooms * spec.rate_per_room,
        seconds=spec.seconds,
    )
    ctx.say(
        f"  {result['streams_per_s']} streams/s ({result['cpu_ms_per_stream']} ms CPU each);"
        f" {result['frames_per_s']} room_activity/s for {result['messages_per_s']} msg/s,"
        f" {result['cpu_us_per_frame']} µs CPU per frame, coalescing ×{result['coalescing']},"
        f" p50 {result['p50_ms']} p99 {result['p99_ms']} ms"
    )
    return result


class _Stream:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.activity = 0
        self.latencies: list[float] = []

    async def read(self) -> None:
        with contextlib.suppress(Exception):
            async for data in self.ws:
                if b'"room_activity"' not in (data if isinstance(data, bytes) else data.encode()):
                    continue
                self.activity += 1
                frame = orjson.loads(data)
                preview = (frame.get("last_message") or {}).get("preview", "")
                if preview.startswith("t="):
                    self.latencies.append(time.time() - float(preview[2:].split(" ", 1)[0]))


async def _measure(
    base: str,
    pid: int,
    spec: EventsProfile,
    people: list[Account],
    talkers: list[Account],
    rooms: list[str],
    members: dict[str, list[int]],
) -> Result:
    async with contextlib.AsyncExitStack() as stack:
        gate = asyncio.Semaphore(spec.connect_concurrency)

        async def open_stream(person: Account) -> _Stream:
            async with gate:
                ws = await stack.enter_async_context(
                    connect(
                        f"{base}/ws/events",
                        additional_headers=person.headers,
                        max_queue=None,
                        open_timeout=OPEN_TIMEOUT_SECONDS,
                    )
                )
                await ws.recv()  # the snapshot
                return _Stream(ws)

        cpu, started = cpu_seconds(pid), time.monotonic()
        streams = await asyncio.gather(*(open_stream(person) for person in people))
        open_s = time.monotonic() - started
        open_cpu = cpu_seconds(pid) - cpu
        readers = [asyncio.create_task(stream.read()) for stream in streams]
        busy = rooms[: spec.busy_rooms]
        sockets = []
        for talker, room in zip(talkers, busy, strict=True):
            ws = await stack.enter_async_context(
                connect(
                    f"{base}/ws/joinRoom/{room}",
                    additional_headers=talker.headers,
                    open_timeout=OPEN_TIMEOUT_SECONDS,
                )
            )
            while b'"ready"' not in (await ws.recv()).encode():  # type: ignore[union-attr]
                pass
            sockets.append(ws)
        await asyncio.sleep(1.0)  # the talkers' room_added and presence frames settle
        for stream in streams:
            stream.activity, stream.latencies = 0, []

        sent = 0
        watchers = 0

        async def talk(ws: ClientConnection, room: str) -> None:
            nonlocal sent, watchers
            interval = 1 / spec.rate_per_room
            next_at = time.monotonic()
            while time.monotonic() < deadline:
                text = f"t={time.time():.6f} " + "x" * 60
                await ws.send(orjson.dumps({"type": "message", "content": text}).decode())
                sent += 1
                watchers += len(members[room])
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        cpu, started = cpu_seconds(pid), time.monotonic()
        deadline = started + spec.seconds
        await asyncio.gather(*(talk(ws, room) for ws, room in zip(sockets, busy, strict=True)))
        await asyncio.sleep(0.5)  # the last flush
        elapsed = time.monotonic() - started
        run_cpu = cpu_seconds(pid) - cpu
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    frames = sum(stream.activity for stream in streams)
    latencies = sorted(lat for stream in streams for lat in stream.latencies)

    def pct(q: float) -> float | None:
        return round(1000 * latencies[int(q * (len(latencies) - 1))], 1) if latencies else None

    return {
        "open_s": round(open_s, 2),
        "streams_per_s": round(len(streams) / open_s, 1),
        "cpu_ms_per_stream": round(1000 * open_cpu / len(streams), 2),
        "messages": sent,
        "messages_per_s": round(sent / elapsed, 1),
        "frames": frames,
        "frames_per_s": round(frames / elapsed, 1),
        "server_cpu_s": round(run_cpu, 2),
        "cpu_us_per_frame": round(1e6 * run_cpu / frames, 1) if frames else None,
        "cpu_us_per_message": round(1e6 * run_cpu / sent, 1) if sent else None,
        "uncoalesced": watchers,
        "coalescing": round(watchers / frames, 1) if frames else None,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


def section(result: dict[str, Any] | None) -> list[str]:
    """The report's rows (bench.report renders every scenario's section)."""
    if not result:
        return []
    row = [
        f"{result['people']:,}",
        f"{result['rooms']:,} × {result['rooms_per_person']} per person",
        f"{result['busy_rooms']} × {result['rate'] / result['busy_rooms']:.0f} msg/s",
        f"{result['streams_per_s']} ({result['cpu_ms_per_stream']} ms)",
        f"{result['messages_per_s']}",
        f"{result['frames_per_s']}",
        f"{result['cpu_us_per_frame']} µs / {result['cpu_us_per_message']} µs",
        f"×{result['coalescing']}",
        f"{result['p50_ms']} / {result['p99_ms']}",
    ]
    header = [
        "streams",
        "rooms",
        "busy rooms",
        "streams/s (CPU each)",
        "msg/s",
        "room_activity/s",
        "server CPU per frame / per msg",
        "coalescing",
        "send → activity p50 / p99 ms",
    ]
    return [
        "### The people's live streams (`/ws/events`, GoChat)",
        "",
        "Every person connected to their events stream (a snapshot each), members of several"
        " rooms; talkers send into the busiest rooms at a fixed rate for"
        f" {result['seconds']} s. Coalescing: the frames a stream without coalescing would send"
        " (one per message per watcher) over the `room_activity` frames sent (at most ~4 per"
        " person per room per second). CPU: the server process's own.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        "| " + " | ".join(row) + " |",
        "",
    ]
