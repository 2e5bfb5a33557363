"""The database's side of a like and a follow: PostgreSQL backend CPU, the client's CPU and
the round-trip time per one-statement write (and per `SELECT 1`), driven by plain asyncpg
on one connection (no HTTP, no SQLAlchemy), against a `bench.http_cpu` seed: what is left
when the service's own Python is taken away, a floor under `bench.http_cpu`'s rows.

    python -m bench.statement_cpu STATE.json [--count 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from jose import jwt
from sqlalchemy.dialects import postgresql

from bench.database import plain_dsn
from bench.processes import cpu_seconds
from shared.models import utcnow
from user_service.follows.queries import FOLLOW_STATEMENT, UNFOLLOW_STATEMENT
from user_service.likes.queries import LIKE_STATEMENT, UNLIKE_STATEMENT


def _positional(statement: Any) -> tuple[str, list[str]]:
    """The statement as asyncpg takes it ($1...) and its parameter names in order."""
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())
    return compiled.string, list(compiled.positiontup)


def _claims(token: str) -> tuple[int, uuid.UUID]:
    raw = jwt.get_unverified_claims(token)
    return int(raw["sub"]), uuid.UUID(raw["sid"])


async def measure(state: dict[str, Any], count: int) -> None:
    conn = await asyncpg.connect(plain_dsn(state["url"]))
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        accounts = state["accounts"]
        user_id, session_id = _claims(accounts[0]["token"])
        post_id = state["like_posts"][0]
        target = accounts[45]["id"]
        nothing = ("SELECT 1", [])
        for name, pairs, key, value in (
            ("SELECT 1", [nothing, nothing], "post_id", post_id),
            (
                "like+unlike",
                [_positional(LIKE_STATEMENT), _positional(UNLIKE_STATEMENT)],
                "post_id",
                post_id,
            ),
            (
                "follow+unfollow",
                [_positional(FOLLOW_STATEMENT), _positional(UNFOLLOW_STATEMENT)],
                "following_id",
                target,
            ),
        ):
            for warm in (True, False):
                n = 50 if warm else count
                cpu0, t0 = cpu_seconds(backend), time.perf_counter()
                client0 = time.process_time()
                for i in range(n):
                    sql, names = pairs[i % 2]
                    values = {
                        "session_id": session_id,
                        "user_id": user_id,
                        key: value,
                        "now": utcnow(),
                        "unread_cap": 1000,
                    }
                    await conn.fetchrow(sql, *(values[p] for p in names))
                if not warm:
                    wall = time.perf_counter() - t0
                    cpu = cpu_seconds(backend) - cpu0
                    client = time.process_time() - client0
                    print(
                        f"{name:16s} {n} statements: PostgreSQL backend CPU "
                        f"{1000 * cpu / n:.3f} ms, asyncpg client CPU {1000 * client / n:.3f} ms,"
                        f" round trip {1000 * wall / n:.3f} ms each  load {os.getloadavg()[0]:.2f}",
                        flush=True,
                    )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statement_cpu")
    parser.add_argument("state", type=Path)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(measure(json.loads(args.state.read_text()), args.count))


if __name__ == "__main__":
    main()
