"""Real uvicorn servers for tests: in a thread of this process, or as a child process that a
test can kill. Both listen on a free loopback port and use the production uvicorn config."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
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
from gochat.stack import free_port
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


@dataclass
class ProcessServer:
    """`gochat serve|dev` in a child process, for tests that kill a server for real."""

    args: list[str]
    env: Mapping[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # Where its log (stderr) goes; by default a pipe that is read only when it fails to start.
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ProcessServer:
        env = {**os.environ, **self.env}
        with open(self.log_path, "wb") if self.log_path else contextlib.nullcontext() as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gochat.cli", *self.args, "--port", str(self.port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log or subprocess.PIPE,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                if self.log_path:
                    err = self.log_path.read_text()
                self.stop()  # closes the pipe, which would otherwise leak (a warning = error)
                raise RuntimeError(f"server exited: {err[-2000:]}")
            try:
                if httpx.get(self.url + "/", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a machine dies."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()


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
