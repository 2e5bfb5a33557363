"""The database's side of a like and a follow: PostgreSQL backend CPU and round-trip time
per one-statement write, driven by plain asyncpg on one connection (no HTTP, no
SQLAlchemy), against a `bench.http_cpu` seed. What is left when the service's own Python is
taken away, i.e. a floor under the HTTP rows of `bench.http_cpu`.

    python -m bench.statement_cpu STATE.json [--count 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
        for name, on, off, key, value in (
            ("like+unlike", LIKE_STATEMENT, UNLIKE_STATEMENT, "post_id", post_id),
            ("follow+unfollow", FOLLOW_STATEMENT, UNFOLLOW_STATEMENT, "following_id", target),
        ):
            pairs = [_positional(on), _positional(off)]
            for warm in (True, False):
                n = 50 if warm else count
                cpu0, t0 = cpu_seconds(backend), time.perf_counter()
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
                    print(
                        f"{name:16s} {n} statements: PostgreSQL backend CPU "
                        f"{1000 * cpu / n:.3f} ms, round trip {1000 * wall / n:.3f} ms each",
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
