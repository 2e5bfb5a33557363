"""Processes the bench starts: servers pinned to the server core, the Node load generator
pinned to the other, and what is read from /proc about them (RSS, CPU)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gochat.processes import PORT_PLACEHOLDER, ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
LOADGEN_DIR = Path(__file__).resolve().parent / "loadgen"
SERVER_CPU = 1
LOADGEN_CPU = 0


def raise_open_files_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE (inherited by every child) towards `wanted`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pinned(argv: Sequence[str], cpu: int) -> list[str]:
    """`taskset -c CPU argv...` where taskset exists and the CPU does; argv unchanged otherwise."""
    if shutil.which("taskset") and cpu < (os.cpu_count() or 1):
        return ["taskset", "-c", str(cpu), *argv]
    return list(argv)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinned_server(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    health_path: str = "/",
    cpu: int = SERVER_CPU,
    log_dir: Path | None = None,
) -> ServerProcess:
    """One server pinned to the server core, ready when GET `health_path` answers; stopped
    with SIGINT, as Ctrl-C would."""
    port = free_port()
    log_path = (log_dir or Path(tempfile.gettempdir())) / f"{name}-{port}.log"
    return ServerProcess(
        name=name,
        argv=pinned(argv, cpu),
        env={**os.environ, **(env or {})},
        port=port,
        log_path=log_path,
        ready_path=health_path,
        cwd=ROOT,
        stop_signal=signal.SIGINT,
        stop_timeout=15,
    )


def uvicorn_argv(app: str, *extra: str) -> list[str]:
    """A peer on uvicorn with the same websocket stack GoChat's `gochat serve` uses: the
    sans-I/O protocol, no compression, uvloop and httptools, no access log."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        PORT_PLACEHOLDER,
        "--ws",
        "websockets-sansio",
        "--ws-per-message-deflate",
        "false",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
        *extra,
    ]


def ensure_node_modules() -> None:
    """`npm ci` from the committed lock file when node_modules is missing or older than it."""
    modules = LOADGEN_DIR / "node_modules"
    lock = LOADGEN_DIR / "package-lock.json"
    marker = modules / ".package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=LOADGEN_DIR,
        check=True,
    )


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


class LoadGenerator:
    """One run of a Node script with a JSON plan; yields its JSON-line events."""

    def __init__(self, script: str, plan: Mapping[str, Any], work_dir: Path) -> None:
        self._plan_path = work_dir / f"plan-{script}-{time.monotonic_ns()}.json"
        self._plan_path.write_text(json.dumps(plan))
        self._argv = pinned(["node", str(LOADGEN_DIR / script), str(self._plan_path)], LOADGEN_CPU)
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> LoadGenerator:
        self.proc = subprocess.Popen(
            self._argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=LOADGEN_DIR,
        )
        return self

    def events(self) -> Iterator[dict[str, Any]]:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                yield json.loads(line)

    def tell(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._plan_path.unlink(missing_ok=True)
        if self.proc.returncode not in (0, -signal.SIGKILL):
            raise RuntimeError(f"load generator exited with {self.proc.returncode}")


def run_loadgen(
    script: str,
    plan: Mapping[str, Any],
    work_dir: Path,
    *,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run to the end; return the final "result" event."""
    result: dict[str, Any] | None = None
    with LoadGenerator(script, plan, work_dir) as loadgen:
        for event in loadgen.events():
            if on_event is not None:
                on_event(event)
            if event.get("event") == "result":
                result = event
    if result is None:
        raise RuntimeError(f"{script} ended without a result")
    return result
