"""Websocket handshakes per second on `/chat/ws/joinRoom/{room}`: what one more membership
check costs the handshake (issue 12). Every handshake is checked (origin, token, session,
room, membership, ban), upgraded, sent the room's history and `ready`, then closed.

    .venv/bin/python -m bench.handshakes --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.handshakes --code-dir /tmp/gochat-main ...   # another version

It runs `gochat dev` (one process, in-process broker) from `--code-dir` on a fresh PostgreSQL
database it drops afterwards, and the clients in this process, on the same machine: compare
two versions in runs made one after the other, not absolute numbers. Bounded by count and
time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect

from gochat.processes import ServerProcess

PASSWORD = "correct horse battery"


async def _admin(server_url: str, statement: str) -> None:
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _sign_up(http: httpx.AsyncClient, count: int) -> list[str]:
    tokens = []
    for _ in range(count):
        name = f"hs_{secrets.token_hex(5)}"
        response = await http.post(
            "/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        response.raise_for_status()
        tokens.append(response.json()["access_token"])
    return tokens


async def _handshake(url: str, token: str) -> None:
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        while b'"ready"' not in (await ws.recv()).encode():  # type: ignore[union-attr]
            pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux `/proc`): less disturbed by a busy
    machine than a rate is."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    base: str, pid: int, *, users: int, concurrency: int, seconds: float, limit: int
) -> tuple[float, float]:
    """Handshakes per second, and the server's CPU milliseconds per handshake."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        tokens = await _sign_up(http, users)
        room_id = f"hs-{secrets.token_hex(4)}"
        created = await http.post(
            "/chat/ws/createRoom",
            json={"name": "handshakes", "id": room_id},
            headers={"Authorization": f"Bearer {tokens[0]}"},
        )
        created.raise_for_status()
    url = "ws" + base.removeprefix("http") + f"/chat/ws/joinRoom/{room_id}"
    for token in tokens:  # everyone is a member before the clock starts
        await _handshake(url, token)
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(n: int) -> None:
        nonlocal done
        while time.monotonic() < deadline and done < limit:
            await _handshake(url, tokens[n % len(tokens)])
            done += 1

    started, cpu = time.monotonic(), cpu_seconds(pid)
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    rate = done / (time.monotonic() - started)
    return rate, 1000 * (cpu_seconds(pid) - cpu) / max(done, 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server to use")
    parser.add_argument("--code-dir", type=Path, default=Path.cwd(), help="the GoChat to run")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--limit", type=int, default=100_000, help="handshakes at most")
    args = parser.parse_args()

    name = f"gochat_handshakes_{secrets.token_hex(4)}"
    await _admin(args.database_url, f'CREATE DATABASE "{name}"')
    url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            env = {
                **os.environ,
                "PYTHONPATH": str(args.code_dir),
                "GOCHAT_ENV": "test",
                "GOCHAT_DATABASE_URL": url,
                "GOCHAT_DATA_DIR": data_dir,
                "GOCHAT_LOG_LEVEL": "warning",
                "GOCHAT_ARGON2_MEMORY_KIB": "1024",
                "GOCHAT_ARGON2_TIME_COST": "1",
                "GOCHAT_REGISTER_LIMIT": "100000/minute",
            }
            server = ServerProcess(
                "gochat dev",
                [sys.executable, "-m", "gochat.cli", "dev", "--port", "{port}"],
                env,
                cwd=args.code_dir,
            )
            server.start(timeout=60)
            try:
                rate, cpu_ms = await measure(
                    server.url,
                    server.pid,
                    users=args.users,
                    concurrency=args.concurrency,
                    seconds=args.seconds,
                    limit=args.limit,
                )
            finally:
                server.stop()
    finally:
        await _admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        f"{args.code_dir}: {rate:.0f} handshakes/s, {cpu_ms:.2f} ms of server CPU each "
        f"({args.concurrency} clients, {args.seconds:.0f} s; load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    asyncio.run(main())
