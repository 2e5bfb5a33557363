"""A PostgreSQL cluster and a Redis server of a test's own, on free loopback ports, that it
may kill and start again for real (the machine's servers are shared: never restart them).

Both are started from the machine's binaries (`/usr/lib/postgresql/<version>/bin`,
`redis-server`) in a temporary directory that is removed afterwards; run as root, PostgreSQL
runs as the `postgres` user (it refuses to run as root)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gochat.processes import free_port

POSTGRES_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def missing_tools() -> str | None:
    """Why private servers cannot run here, or None."""
    if not POSTGRES_BIN_DIRS or not (POSTGRES_BIN_DIRS[0] / "initdb").exists():
        return "no PostgreSQL server binaries under /usr/lib/postgresql"
    if shutil.which("redis-server") is None:
        return "no redis-server"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user"
    return None


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@dataclass
class PrivatePostgres:
    """One cluster: trust authentication, loopback only, durable enough for a crash test
    (`fsync=off` only matters when the machine itself goes down)."""

    directory: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, tool: str, *args: str, timeout: float = 60) -> None:
        binary = str(POSTGRES_BIN_DIRS[0] / tool)
        done = subprocess.run(
            _as_postgres(binary, *args), capture_output=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {done.stderr.decode()[-2000:]}")

    def init(self) -> PrivatePostgres:
        data = self.directory / "data"
        self._pg("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories="
            f"{self.directory} -c fsync=off -c max_connections=200"
        )
        self._pg(
            "pg_ctl", "-D", str(self.directory / "data"), "-l", str(self.directory / "log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def kill(self) -> None:
        """`immediate`: the server processes quit at once, as in a crash (recovery on start)."""
        self._pg("pg_ctl", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.kill()


@dataclass
class PrivateRedis:
    directory: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - the child keeps it
        with log:
            self.proc = subprocess.Popen(
                [
                    "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(self.directory),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ping = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            )
            if ping.stdout.strip() == b"PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    stop = kill


@contextlib.contextmanager
def private_servers() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    """Both started; both killed and their directory removed afterwards, whatever happens."""
    directory = Path(tempfile.mkdtemp(prefix="gochat-private-"))
    if os.geteuid() == 0:
        postgres_user = pwd.getpwnam("postgres")
        os.chown(directory, postgres_user.pw_uid, postgres_user.pw_gid)
    postgres = PrivatePostgres(directory)
    redis = PrivateRedis(directory)
    try:
        postgres.init().start()
        redis.start()
        yield postgres, redis
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(directory, ignore_errors=True)
