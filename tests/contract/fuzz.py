"""The contract job of `.ci/run`: schemathesis over the OpenAPI documents of the three
services, each a real `gochat serve` process on a fresh PostgreSQL database.

Two users, the peers of the object-level authorization checks: every request goes as
Alice; Bob owns a post and rooms, so the fuzzer meets things that are not Alice's (deleting
Bob's post is a 403), and Alice owns things Bob must not reach (`_seed`), which
tests/contract/authorization.py sends Bob's copies of her requests at. The two operations that
end the caller's own session (`/logout`, `/delete`) run last, each with a throwaway user of its
own, so that they cannot log Alice out halfway.

    GOCHAT_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m tests.contract.fuzz [--max-examples N] [--service ws]

The exit status is non-zero when any schemathesis run found a failure.
"""

from __future__ import annotations

import argparse
import json
import os
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
# Imported by module name from the repository root (a file path would not import it as a module).
HOOKS = "tests.contract.authorization"
ROOT = Path(__file__).resolve().parents[2]
PHASES = "examples,coverage,fuzzing,stateful"
# Operations that end the caller's session: fuzzed apart, each with a user of its own.
SESSION_ENDING = {"auth": "/logout", "user": "/delete"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=10)
    parser.add_argument(
        "--service", choices=["auth", "user", "ws"], help="fuzz this service only (default: all)"
    )
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
            return _fuzz(servers, max_examples=args.max_examples, tmp=Path(tmp), only=args.service)
        finally:
            for server in servers.values():
                server.stop()


def _fuzz(
    servers: dict[str, ProcessServer], *, max_examples: int, tmp: Path, only: str | None
) -> int:
    alice, bob, carol, *throwaway = (_account(servers) for _ in range(5))
    owned = _seed(servers, alice=alice, bob=bob, carol=carol)
    runs: list[tuple[str, Account, dict[str, object], list[str]]] = []
    for name in servers:
        ending = SESSION_ENDING.get(name)
        runs.append((name, alice, owned, ["--exclude-path", ending] if ending else []))
    for (name, path), account in zip(SESSION_ENDING.items(), throwaway, strict=True):
        runs.append((name, account, {}, ["--include-path", path]))
    runs = [run for run in runs if only in (None, run[0])]
    failed = 0
    started = time.monotonic()
    for index, (name, account, objects, selection) in enumerate(runs):
        base = servers[name].url
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": HOOKS,
            "GOCHAT_CONTRACT_AUTH": str(_write(tmp / f"auth-{index}.json", _wfc(account, bob))),
            "GOCHAT_CONTRACT_PEERS": str(
                _write(tmp / f"peers-{index}.json", _peers(account, bob, objects))
            ),
        }
        command = [
            SCHEMATHESIS,
            "--no-color",
            "--config-file",
            str(CONFIG),
            "run",
            f"{base}/openapi.json",
            "--url",
            base,
            # Every check but one, chosen in tests/contract/schemathesis.toml.
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
        failed += subprocess.run(command, check=False, env=env, cwd=ROOT).returncode != 0
        probes = Path(f"{env['GOCHAT_CONTRACT_PEERS']}.probes")
        if probes.exists():
            print(f"contract: Bob's probes (tests/contract/authorization.py): {probes.read_text()}")
    print(f"contract: {len(runs)} runs, {failed} with failures, {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


def _seed(
    servers: dict[str, ProcessServer], *, alice: Account, bob: Account, carol: Account
) -> dict[str, object]:
    """Bob's post and public room (objects that are not Alice's), and what Alice owns that
    Bob must not reach: a private and a public room, a direct room with Carol, a post, a
    notification (Bob likes the post), an invitation (to Bob's private room), a block and a
    mute (of Carol)."""
    user, ws = servers["user"].url, servers["ws"].url
    with httpx.Client() as http:

        def call(method: str, url: str, account: Account, **kwargs: object) -> dict[str, object]:
            response = http.request(method, url, headers=account.headers, **kwargs)  # type: ignore[arg-type]
            assert response.status_code in (200, 201), (method, url, response.text)
            body: dict[str, object] = response.json()
            return body

        call("POST", f"{user}/posts", bob, json={"content": "bob's"})
        call("POST", f"{ws}/ws/createRoom", bob, json={"name": "bob's"})
        call(
            "POST",
            f"{ws}/ws/createRoom",
            bob,
            json={"name": "bob's", "id": "bob-private", "private": True},
        )
        rooms = {"alice-private": "private", "alice-public": "public"}
        for room, kind in rooms.items():
            call(
                "POST",
                f"{ws}/ws/createRoom",
                alice,
                json={"name": room, "id": room, "private": kind == "private"},
            )
        direct = call("POST", f"{ws}/ws/dm", alice, params={"userId": carol.id})
        rooms[str(direct["id"])] = "direct"
        post = call("POST", f"{user}/posts", alice, json={"content": "alice's"})
        call("POST", f"{user}/posts/{post['id']}/like", bob)
        call("POST", f"{ws}/ws/rooms/bob-private/invites", bob, params={"userId": alice.id})
        call("POST", f"{user}/block", alice, params={"toBlockId": carol.id})
        call("POST", f"{user}/mute", alice, params={"toMuteId": carol.id})
    return {"rooms": rooms, "posts": [post["id"]]}


def _wfc(alice: Account, bob: Account) -> dict[str, object]:
    """A Web Fuzzing Commons auth document: the two peers of schemathesis's own checks."""
    return {
        "auth": [
            {
                "name": name,
                "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {a.token}"}],
            }
            for name, a in (("alice", alice), ("bob", bob))
        ]
    }


def _peers(alice: Account, bob: Account, objects: dict[str, object]) -> dict[str, object]:
    people = {name: {"id": a.id, "token": a.token} for name, a in (("alice", alice), ("bob", bob))}
    return {**people, **objects}


def _write(path: Path, document: dict[str, object]) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _account(servers: dict[str, ProcessServer]) -> Account:
    import asyncio

    async def make() -> Account:
        async with httpx.AsyncClient(base_url=servers["auth"].url) as http:
            return await register(http, auth_path="")

    return asyncio.run(make())


if __name__ == "__main__":
    sys.exit(main())
