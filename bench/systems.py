"""The websocket systems under test: GoChat's ws_service and the peers, each started fresh as
one pinned process, and how a load-generator client joins a room on each."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.database import Account
from bench.processes import LOADGEN_DIR, pinned_server, uvicorn_argv
from gochat.processes import ServerProcess

ClientSpec = dict[str, Any]


@dataclass(frozen=True)
class System:
    """`key` names it in results; `protocol` is the load generator's dialect for it."""

    key: str
    label: str
    protocol: str
    argv: list[str]
    join_url: Callable[[str, str], str]  # (ws base url, room) -> url
    authenticated: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    # The highest rate one connection may send at before the server refuses it (GoChat's
    # per-connection limit); the load generator spreads a rate over enough senders.
    per_sender_rate: float = 8.0
    reference: bool = False  # the loadgen-ceiling reference, not a peer

    def server(self, log_dir: Path, env: Mapping[str, str] | None = None) -> ServerProcess:
        return pinned_server(
            self.key, list(self.argv), env={**self.env, **(env or {})}, log_dir=log_dir
        )

    def client(self, server: ServerProcess, room: str, account: Account) -> ClientSpec:
        """One load-generator client joining `room` on `server` (as `account` where the
        system authenticates)."""
        spec: ClientSpec = {"url": self.join_url(server.ws_url, room)}
        if self.authenticated:
            spec["headers"] = account.headers
        return spec

    def clients(
        self, servers: Sequence[ServerProcess], room: str, accounts: Sequence[Account], count: int
    ) -> list[ClientSpec]:
        """`count` clients in `room`, spread round-robin over `servers`, one account each."""
        return [self.client(servers[i % len(servers)], room, accounts[i]) for i in range(count)]


GOCHAT = System(
    key="gochat",
    label="GoChat ws_service",
    protocol="gochat",
    argv=[sys.executable, "-m", "gochat.cli", "serve", "ws", "--port", "{port}"],
    join_url=lambda base, room: f"{base}/ws/joinRoom/{room}",
    authenticated=True,
    # The per-connection message limit (10/s, bursts of 20) would cap the N=100 ramp at about
    # 100 senders x 10 msg/s: raised, so that the ramp measures delivery, not the limiter.
    # Every bench socket comes from 127.0.0.1, so the per-address caps are raised too.
    env={
        "GOCHAT_WS_RATE_PER_SECOND": "1000",
        "GOCHAT_WS_RATE_BURST": "1000",
        "GOCHAT_WS_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
        "GOCHAT_WS_MAX_CONNECTIONS_PER_USER": "100000",
        "GOCHAT_WS_HANDSHAKE_RATE_PER_SECOND": "100000",
        "GOCHAT_WS_HANDSHAKE_BURST": "100000",
    },
)

STARLETTE_HUB = System(
    key="starlette",
    label="Starlette hub",
    protocol="plain",
    argv=uvicorn_argv("bench.peers.starlette_hub:app"),
    join_url=lambda base, room: f"{base}/ws/{room}",
    per_sender_rate=8.0,
)

SOCKETIO = System(
    key="socketio",
    label="python-socketio",
    protocol="socketio",
    argv=uvicorn_argv("bench.peers.socketio_hub:app"),
    join_url=lambda base, room: f"{base}/socket.io/?EIO=4&transport=websocket&room={room}",
)

REFERENCE = System(
    key="reference",
    label="Node ws reference hub (loadgen ceiling)",
    protocol="plain",
    argv=["node", str(LOADGEN_DIR / "reference_hub.mjs"), "{port}"],
    join_url=lambda base, room: f"{base}/ws/{room}",
    reference=True,
)

ALL_SYSTEMS = (GOCHAT, SOCKETIO, STARLETTE_HUB, REFERENCE)
PEERS = ("socketio", "starlette")
# The many-rooms scenario (10,000 sockets): python-socketio is left out (at 1,000 members it
# already failed p99 at a few messages a second, and 10,000 sockets cost it 40 KiB each).
ROOMS_SYSTEMS = ("gochat", "starlette", "reference")
