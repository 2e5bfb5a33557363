"""The contract job of `.ci/run`: schemathesis over the OpenAPI documents of the three
services, each a real `gochat serve` process on a fresh PostgreSQL database.

Two users: Alice's token goes with every request; Bob owns a post and a room, so the
object-level checks meet something that is not Alice's (deleting Bob's post is a 403). The
two operations that end the caller's own session (`/logout`, `/delete`) run last, each with a
throwaway user of its own, so that they cannot log Alice out halfway.

    GOCHAT_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m tests.contract.fuzz [--max-examples N]

The exit status is non-zero when any schemathesis run found a failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.databases import fresh_database
from tests.support.servers import ProcessServer
from tests.support.users import Account, register

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CONFIG = Path(__file__).with_name("schemathesis.toml")
PHASES = "examples,coverage,fuzzing,stateful"
# Operations that end the caller's session: fuzzed apart, each with a user of its own.
SESSION_ENDING = {"auth": "/logout", "user": "/delete"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=10)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="gochat-contract-") as tmp,
        fresh_database(Path(tmp)) as database_url,
    ):
        keys = Path(tmp) / "keys"
        subprocess.run([sys.executable, "-m", "gochat.cli", "keygen", str(keys)], check=True)
        env = {
            "GOCHAT_ENV": "test",
            "GOCHAT_DATABASE_URL": database_url,
            "GOCHAT_JWT_PUBLIC_KEY_FILE": str(keys / "jwt-public.pem"),
            "GOCHAT_LOG_LEVEL": "error",
        }
        servers = {
            "auth": ProcessServer(
                ["serve", "auth"],
                {**env, "GOCHAT_JWT_PRIVATE_KEY_FILE": str(keys / "jwt-private.pem")},
            ),
            "user": ProcessServer(["serve", "user"], env),
            "ws": ProcessServer(["serve", "ws"], env),
        }
        try:
            for server in servers.values():
                server.start()
            return _fuzz(servers, max_examples=args.max_examples)
        finally:
            for server in servers.values():
                server.stop()


def _fuzz(servers: dict[str, ProcessServer], *, max_examples: int) -> int:
    alice, bob, *throwaway = (_account(servers) for _ in range(4))
    with httpx.Client() as http:
        post = http.post(
            f"{servers['user'].url}/posts", json={"content": "bob's"}, headers=bob.headers
        )
        room = http.post(
            f"{servers['ws'].url}/ws/createRoom", json={"name": "bob's"}, headers=bob.headers
        )
        assert post.status_code == 201 and room.status_code == 200, (post.text, room.text)
    runs: list[tuple[str, Account, list[str]]] = []
    for name in servers:
        ending = SESSION_ENDING.get(name)
        runs.append((name, alice, ["--exclude-path", ending] if ending else []))
    for (name, path), account in zip(SESSION_ENDING.items(), throwaway, strict=True):
        runs.append((name, account, ["--include-path", path]))
    failed = 0
    started = time.monotonic()
    for name, account, selection in runs:
        base = servers[name].url
        command = [
            SCHEMATHESIS,
            "--no-color",
            "--config-file",
            str(CONFIG),
            "run",
            f"{base}/openapi.json",
            "--url",
            base,
            "--header",
            f"Authorization: Bearer {account.token}",
            "--checks",
            "all",
            # Taking back a like ends the like, not the post; the stateful links read it as
            # deleting what GET /posts/{id}/likes lists (tests/contract/schemathesis.toml).
            "--exclude-checks",
            "use_after_free",
            "--phases",
            PHASES,
            "--max-examples",
            str(max_examples),
            "--seed",
            "14",
            "--generation-deterministic",
            "--request-timeout",
            "10",
            *selection,
        ]
        print(f"contract: {name} {' '.join(selection) or '(all operations)'}", flush=True)
        failed += subprocess.run(command, check=False).returncode != 0
    print(f"contract: {len(runs)} runs, {failed} with failures, {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


def _account(servers: dict[str, ProcessServer]) -> Account:
    import asyncio

    async def make() -> Account:
        async with httpx.AsyncClient(base_url=servers["auth"].url) as http:
            return await register(http, auth_path="")

    return asyncio.run(make())


if __name__ == "__main__":
    sys.exit(main())
