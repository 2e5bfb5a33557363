"""Server processes on loopback: started, waited on until they answer, stopped in order.

The one runner behind `gochat stack`, the tests that kill a server for real, and the bench.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

PORT_PLACEHOLDER = "{port}"


class ProcessFailed(RuntimeError):
    """The process exited at start or did not answer in time; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """One server on 127.0.0.1:`port`. `{port}` in `argv` is replaced by the port.

    Ready when GET `ready_path` answers `ready_status` (any status below 500 when None).
    Output goes to `log_path` (appended) or, without one, to an anonymous temporary file
    (never a pipe: a chatty child would block once the pipe's buffer filled), shown when the
    process fails to start.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]  # the child's whole environment
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    ready_path: str = "/"
    ready_status: int | None = None
    cwd: Path | None = None
    new_session: bool = False  # Ctrl-C in a terminal then reaches only the parent
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 20.0
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ProcessFailed(f"{self.name} was never started")
        return self.proc.pid

    def launch(self) -> None:
        """Start the process without waiting for it (`wait_ready` waits)."""
        argv = [part.replace(PORT_PLACEHOLDER, str(self.port)) for part in self.argv]
        self._close_output()
        # Closed by `wait`/`stop`: it lives as long as the process writes to it.
        if self.log_path is not None:
            self._log = self.log_path.open("a+b")
        else:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen(  # noqa: S603 - argv is the caller's, never a shell
            argv,
            cwd=self.cwd,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=self.new_session,
        )

    def wait_ready(self, deadline: float) -> None:
        """Poll `ready_path` until `time.monotonic()` passes `deadline`; ProcessFailed (the
        process stopped) when it exits first or never answers."""
        while time.monotonic() < deadline:
            if not self.is_running():
                self._fail("exited at start")
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(self.url + self.ready_path, timeout=2).status_code
                if status == self.ready_status or (self.ready_status is None and status < 500):
                    return
            time.sleep(0.1)
        self._fail("did not answer in time")

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.launch()
        self.wait_ready(time.monotonic() + timeout)
        return self

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, signum: int) -> None:
        if self.proc is not None and self.is_running():
            self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int | None:
        """The exit status, after SIGKILL if it is still running after `timeout`."""
        if self.proc is None:
            return None
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait(timeout=10)
        self._close_output()
        return status

    def stop(self) -> int | None:
        """`stop_signal` (SIGTERM: drain, close sockets with 1012), SIGKILL at the deadline."""
        self.send(self.stop_signal)
        return self.wait(self.stop_timeout)

    def terminate(self) -> int | None:
        self.send(signal.SIGTERM)
        return self.wait(self.stop_timeout)

    def kill(self) -> int | None:
        """SIGKILL: no shutdown code runs, as when a machine dies."""
        self.send(signal.SIGKILL)
        return self.wait(10)

    def _fail(self, what: str) -> None:
        output = b""
        if self._log is not None:
            self._log.flush()
            self._log.seek(0)
            output = self._log.read()[-2000:]
        self.stop()
        where = f"; see {self.log_path}" if self.log_path else ""
        raise ProcessFailed(f"{self.name} {what}{where}: {output.decode(errors='replace')}")

    def _close_output(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@contextmanager
def running(*servers: ServerProcess, timeout: float = 60.0) -> Iterator[tuple[ServerProcess, ...]]:
    """Start the servers in order; stop them all, newest first, whatever happens."""
    started: list[ServerProcess] = []
    try:
        for server in servers:
            started.append(server)
            server.start(timeout)
        yield tuple(started)
    finally:
        for server in reversed(started):
            server.stop()
