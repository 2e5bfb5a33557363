"""Issue 13's target: "listing 100 rooms with their unread counts stays under 20 ms p99 with
1M messages stored". `GET /ws/getRooms?mine=true&limit=100` through a real ws_service on
PostgreSQL, for a reader in 100 rooms among `unread_rooms` that hold `unread_messages`
messages together, with markers all over the place and their own messages after them.

Seeded with generate_series in a few statements, with the counters the store would have
kept (`number`, `message_count`, `last_message_seq`, `read_number`). Also reported: the
server's CPU per request (a figure load on the machine distorts less than latency) and
EXPLAIN ANALYZE of the page's statement.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
from sqlalchemy.dialects import postgresql

from bench.database import BenchDatabase
from bench.processes import cpu_seconds, pinned_server
from bench.scenarios import Context, Result, _http, _serve
from gochat.processes import running
from ws_service.rooms.queries import my_rooms_by_activity_bound

READER_ROOMS = 100
AUTHORS = 20
PAGE = 100


def seed(
    db: BenchDatabase, *, reader_id: int, authors: list[int], rooms: int, messages: int
) -> str:
    """`messages` over `rooms` rooms (prefix returned), each room's activity at its own time;
    the reader is a member of the first READER_ROOMS with a marker somewhere in each, and
    wrote every 7th message."""
    return asyncio.run(
        _seed(db.dsn, reader_id=reader_id, authors=authors, rooms=rooms, messages=messages)
    )


async def _seed(dsn: str, *, reader_id: int, authors: list[int], rooms: int, messages: int) -> str:
    prefix = "unread"
    per_room = max(messages // rooms, 1)
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO rooms (id, name, created_by, created_at, last_seq, kind,"
                " message_count, last_message_seq)"
                " SELECT $1 || '-' || r, 'room ' || r, NULL, now() - interval '30 days', $2,"
                " 'public', $2, $2 FROM generate_series(1, $3) r",
                prefix,
                per_room,
                rooms,
            )
            # Room r's messages are a minute apart from room r+1's: activity orders them.
            await conn.execute(
                "INSERT INTO messages (room_id, seq, user_id, content, created_at, number)"
                " SELECT $1 || '-' || r, s,"
                "  CASE WHEN s % 7 = 0 THEN $2 ELSE ($3::bigint[])[1 + (r + s) % $4] END,"
                "  'message ' || s || ' of room ' || r,"
                "  now() - r * interval '1 minute' - ($5 - s) * interval '1 millisecond', s"
                " FROM generate_series(1, $6) r, generate_series(1, $5) s",
                prefix,
                reader_id,
                authors,
                len(authors),
                per_room,
                rooms,
            )
            await conn.execute(
                "INSERT INTO room_members (room_id, user_id, role, joined_at, read_seq,"
                " read_number)"
                " SELECT $1 || '-' || r, a, 'member', now(), 0, 0"
                " FROM generate_series(1, $2) r, unnest($3::bigint[]) a",
                prefix,
                rooms,
                authors,
            )
            # Markers from nothing read to everything read (reader rooms spread over all).
            await conn.execute(
                "INSERT INTO room_members (room_id, user_id, role, joined_at, read_seq,"
                " read_number)"
                " SELECT $1 || '-' || (1 + (k * $2 / $3)), $4, 'member', now(),"
                "  (k * 37) % ($5 + 1), (k * 37) % ($5 + 1)"
                " FROM generate_series(0, $3 - 1) k",
                prefix,
                rooms,
                READER_ROOMS,
                reader_id,
                per_room,
            )
        await conn.execute("VACUUM ANALYZE rooms, room_members, messages")
    finally:
        await conn.close()
    return prefix


def statement_alone(db: BenchDatabase, *, reader_id: int, runs: int) -> Result:
    """The first page's statement by itself, `runs` times on one connection (its p50 and
    p99 in ms, round trip included), then its EXPLAIN (ANALYZE, BUFFERS), warm."""
    statement, parameters = my_rooms_by_activity_bound(user_id=reader_id, before=None, limit=PAGE)
    sql = str(
        statement.params(parameters).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
    )

    async def run() -> Result:
        conn = await asyncpg.connect(db.dsn)
        try:
            took = []
            for _ in range(runs):
                started = time.perf_counter()
                await conn.fetch(sql)
                took.append(1000 * (time.perf_counter() - started))
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        finally:
            await conn.close()
        took.sort()
        return {
            "runs": runs,
            "p50_ms": round(took[len(took) // 2], 2),
            "p99_ms": round(took[min(len(took) - 1, int(0.99 * len(took)))], 2),
            "explain": "\n".join(row[0] for row in plan),
        }

    return asyncio.run(run())


def my_rooms(ctx: Context) -> Result:
    p = ctx.profile
    reader, *authors = ctx.db.create_accounts(AUTHORS + 1, prefix="unread")
    started = time.monotonic()
    seed(
        ctx.db,
        reader_id=reader.id,
        authors=[a.id for a in authors],
        rooms=p.unread_rooms,
        messages=p.unread_messages,
    )
    ctx.say(
        f"  seeded {p.unread_messages:,} messages in {p.unread_rooms:,} rooms"
        f" in {time.monotonic() - started:.1f} s"
    )
    results: Result = {
        "messages": p.unread_messages,
        "rooms": p.unread_rooms,
        "reader_rooms": READER_ROOMS,
        "statement": statement_alone(ctx.db, reader_id=reader.id, runs=p.unread_statement_runs),
    }
    server = pinned_server("ws", _serve("ws"), env=ctx.db.service_env(), log_dir=ctx.log_dir)
    path = f"/ws/getRooms?mine=true&limit={PAGE}"
    with running(server):
        page = httpx.get(server.url + path, headers=reader.headers, timeout=10).json()
        results["listed"] = len(page)
        results["unread_total"] = sum(room["unread"] for room in page)
        warmup = min(1.0, p.unread_seconds / 4)
        cpu_before = cpu_seconds(server.pid)
        results["latency"] = _http(
            ctx,
            server,
            p.unread_seconds,
            [
                {
                    "name": f"GET {path}, {p.unread_rate:.0f} req/s",
                    "kind": "open",
                    "rate": p.unread_rate,
                    "requests": [{"method": "GET", "path": path, "headers": reader.headers}],
                    "warmupS": warmup,
                },
            ],
        )
        sent = results["latency"]["workloads"][0]["requests"] + p.unread_rate * warmup
        results["server_cpu_ms"] = round(1000 * (cpu_seconds(server.pid) - cpu_before) / sent, 2)
    ctx.say(
        f"  server CPU {results['server_cpu_ms']} ms per request; the statement alone:"
        f" p50 {results['statement']['p50_ms']} p99 {results['statement']['p99_ms']} ms"
    )
    return results
