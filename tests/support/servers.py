"""Real uvicorn servers for tests: in a thread of this process, or as a child process that a
test can kill. Both listen on a free loopback port and use the production uvicorn config."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from gochat.cli import uvicorn_config
from gochat.processes import PORT_PLACEHOLDER, ServerProcess, free_port
from shared.settings import Settings


@dataclass
class ThreadServer:
    """`uvicorn.Server` on its own event loop in a thread; `stop()` shuts it down cleanly."""

    app: FastAPI
    settings: Settings
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        config = uvicorn_config(self.app, self.settings, host="127.0.0.1", port=self.port)
        config.log_level = "warning"
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


class ProcessServer(ServerProcess):
    """`gochat serve|dev ARGS` in a child process, for tests that kill a server for real."""

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str],
        *,
        port: int | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(
            name="gochat " + " ".join(args),
            argv=[sys.executable, "-m", "gochat.cli", *args, "--port", PORT_PLACEHOLDER],
            env={**os.environ, **env},
            port=port or free_port(),
            log_path=log_path,
            stop_timeout=15,
        )


async def wait_until_ready(
    http: httpx.AsyncClient, path: str = "/readyz", timeout: float = 20
) -> None:
    """Poll a readiness endpoint until it answers 200 (bounded)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            response = await http.get(path)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} not ready after {timeout} s: {last}")
