"""`gochat stack`: the docker compose topology as plain processes on this machine.

PostgreSQL and Redis are the configured ones (`GOCHAT_DATABASE_URL`, `GOCHAT_REDIS_URL`). The
stack runs `gochat migrate` once (compose's `migrate`), then starts `auth`, `user`, N `ws`
instances and `web` as separate `gochat serve` processes on loopback ports, then Debian's
nginx as the gateway, configured from the same template as compose
(deploy/nginx/gochat.conf.template) with loopback upstreams. Stopping it stops nginx first, so
nothing new arrives, then every service with SIGTERM (each drains its requests and closes its
websockets with 1012), SIGKILL for any still running after a deadline.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import ValidationError

from gochat.processes import PORT_PLACEHOLDER, ProcessFailed, ServerProcess
from shared.settings import Settings, describe_error
from shared.tokens import (
    PRIVATE_KEY_FILENAME,
    PUBLIC_KEY_FILENAME,
    generate_key_pair,
    write_key_pair,
)

GATEWAY_TEMPLATE = (
    Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "gochat.conf.template"
)
_PLACEHOLDER = re.compile(r"\$\{(GATEWAY_[A-Z_]+)\}")
GOCHAT = (sys.executable, "-m", "gochat.cli")
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0  # uvicorn drains for up to 10 s (timeout_graceful_shutdown)


class StackError(RuntimeError):
    """The stack cannot start; the message says why in one line (and where the log is)."""


def render_gateway_config(values: Mapping[str, str], template: str | None = None) -> str:
    """The gateway template with every `${GATEWAY_*}` placeholder filled, as the nginx image's
    envsubst does for compose; any other `$name` is nginx's and stays."""
    text = GATEWAY_TEMPLATE.read_text() if template is None else template

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise StackError(f"the gateway template needs {name}")
        return values[name]

    return _PLACEHOLDER.sub(fill, text)


def upstream_servers(ports: Iterable[int]) -> str:
    return " ".join(f"server 127.0.0.1:{port};" for port in ports)


def service_of(name: str) -> str:
    """The service a stack process runs: "ws-2" runs "ws"."""
    return name.partition("-")[0]


def service_process(
    name: str, service: str, env: Mapping[str, str], log_path: Path
) -> ServerProcess:
    """One `gochat serve SERVICE` process (`name`: "auth", "ws-1"...); its JSON log lines go to
    `log_path`. Ready when /readyz answers 200 (the web client has no database: /)."""
    return ServerProcess(
        name=name,
        argv=[*GOCHAT, "serve", service, "--host", "127.0.0.1", "--port", PORT_PLACEHOLDER],
        env=env,
        log_path=log_path,
        ready_path="/" if service == "web" else "/readyz",
        ready_status=200,
        new_session=True,  # Ctrl-C reaches only the stack, which stops all in order
        stop_timeout=STOP_TIMEOUT_SECONDS,
    )


@dataclass
class Stack:
    """The whole topology; a context manager that stops everything it started."""

    env: Mapping[str, str]  # GOCHAT_* settings for every service
    run_dir: Path
    gateway_port: int = 8080
    ws_instances: int = 2
    nginx: str = "nginx"
    services: dict[str, ServerProcess] = field(default_factory=dict)
    gateway: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}"

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> Stack:
        settings = self._settings()
        nginx = shutil.which(self.nginx) or shutil.which(self.nginx, path="/usr/sbin")
        if nginx is None:
            raise StackError("nginx is not installed (Debian: apt-get install nginx)")
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            self._start_services(settings)
            self._start_gateway(nginx)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Gateway first, then every service at once: SIGTERM, then SIGKILL at the deadline."""
        if self.gateway is not None and self.gateway.poll() is None:
            self.gateway.send_signal(signal.SIGQUIT)  # nginx: finish what is in flight
            try:
                self.gateway.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
                self.gateway.wait(timeout=10)
        for process in self.services.values():
            process.send(signal.SIGTERM)
        for process in self.services.values():
            process.wait(STOP_TIMEOUT_SECONDS)

    def ws(self) -> list[ServerProcess]:
        return [p for name, p in self.services.items() if name.startswith("ws-")]

    def restart(self, name: str) -> None:
        """Start a stopped (or killed) service again on the same port, and wait for it."""
        process = self.services[name]
        if process.is_running():
            raise StackError(f"{name} is still running")
        process.launch()
        process.wait_ready(time.monotonic() + START_TIMEOUT_SECONDS)

    def _settings(self) -> Settings:
        values = {k.removeprefix("GOCHAT_").lower(): v for k, v in self.env.items()}
        try:
            # Checked here, so a bad value stops the stack in one line before anything starts.
            settings = Settings.model_validate(values)
        except ValidationError as exc:
            raise StackError(describe_error(exc)) from None
        if settings.is_sqlite:
            raise StackError("the stack runs on PostgreSQL: set GOCHAT_DATABASE_URL")
        if not settings.redis_url:
            raise StackError("the stack's ws instances share Redis: set GOCHAT_REDIS_URL")
        return settings

    def _start_services(self, settings: Settings) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("GOCHAT_")}
        base.update(self.env)
        base.setdefault("GOCHAT_ENV", "production")
        base["GOCHAT_FORWARDED_ALLOW_IPS"] = "127.0.0.1"  # the gateway
        gateway_origins = (
            f"http://127.0.0.1:{self.gateway_port}",
            f"http://localhost:{self.gateway_port}",
        )
        base["GOCHAT_ALLOWED_ORIGINS"] = ",".join(
            dict.fromkeys((*settings.allowed_origins, *gateway_origins))
        )
        private_key = self._key_files(settings, base)
        verifying = {k: v for k, v in base.items() if not k.startswith("GOCHAT_JWT_PRIVATE_KEY")}
        minting = {**verifying, **private_key}
        migrate(verifying, self.logs / "migrate.log")

        names = [("auth", "auth", minting), ("user", "user", verifying)]
        names += [(f"ws-{i}", "ws", verifying) for i in range(1, self.ws_instances + 1)]
        names += [("web", "web", verifying)]
        for name, service, env in names:
            process = service_process(name, service, env, self.logs / f"{name}.log")
            self.services[name] = process
            process.launch()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        for process in self.services.values():
            process.wait_ready(deadline)

    def _key_files(self, settings: Settings, env: dict[str, str]) -> dict[str, str]:
        """The private-key setting for the auth service alone. Configured keys are used as
        they are; otherwise a pair is made for this stack (production never generates)."""
        if settings.jwt_public_key or settings.jwt_public_key_file:
            return {k: v for k, v in self.env.items() if k.startswith("GOCHAT_JWT_PRIVATE_KEY")}
        keys = self.run_dir / "keys"
        if not (keys / PUBLIC_KEY_FILENAME).exists():
            write_key_pair(keys, generate_key_pair())
        env["GOCHAT_JWT_PUBLIC_KEY_FILE"] = str(keys / PUBLIC_KEY_FILENAME)
        return {"GOCHAT_JWT_PRIVATE_KEY_FILE": str(keys / PRIVATE_KEY_FILENAME)}

    def _start_gateway(self, nginx: str) -> None:
        gateway = Gateway(nginx, self.run_dir / "nginx", error_log=self.logs / "gateway-error.log")
        gateway.configure(
            listen=f"127.0.0.1:{self.gateway_port}",
            access_log=self.logs / "gateway.log",
            upstreams={
                service: [
                    p.port for name, p in self.services.items() if service_of(name) == service
                ]
                for service in ("auth", "user", "ws", "web")
            },
        )
        gateway.check()
        self.gateway = gateway.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.gateway.poll() is not None:
                raise StackError(f"nginx exited at start; see {gateway.error_log}")
            try:
                if httpx.get(self.url + "/auth/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise StackError(f"the gateway did not answer in time; see {gateway.error_log}")


def migrate(env: Mapping[str, str], log_path: Path) -> None:
    """compose's one-shot `migrate`: `gochat migrate` in its own process, which must succeed
    before any service starts."""
    with open(log_path, "ab") as log:
        done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
            [*GOCHAT, "migrate"],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=START_TIMEOUT_SECONDS,
            check=False,
        )
    if done.returncode != 0:
        raise StackError(f"gochat migrate failed; see {log_path}")


@dataclass(frozen=True)
class Gateway:
    """Debian's nginx in the foreground with every file of its own under `prefix`, configured
    from the compose template with loopback upstreams."""

    nginx: str
    prefix: Path
    error_log: Path

    @property
    def command(self) -> list[str]:
        config = self.prefix / "nginx.conf"
        return [self.nginx, "-p", str(self.prefix), "-c", str(config), "-e", str(self.error_log)]

    def configure(
        self, *, listen: str, access_log: Path, upstreams: Mapping[str, list[int]]
    ) -> None:
        values = {
            "GATEWAY_LISTEN": listen,
            "GATEWAY_RESOLVER": "",  # fixed loopback addresses: nothing to resolve
            "GATEWAY_ACCESS_LOG": str(access_log),
            "GATEWAY_AUTH_SERVERS": upstream_servers(upstreams["auth"]),
            "GATEWAY_USER_SERVERS": upstream_servers(upstreams["user"]),
            "GATEWAY_WS_SERVERS": upstream_servers(upstreams["ws"]),
            "GATEWAY_WEB_SERVERS": upstream_servers(upstreams["web"]),
        }
        (self.prefix / "temp").mkdir(parents=True, exist_ok=True)
        (self.prefix / "gochat.conf").write_text(render_gateway_config(values))
        (self.prefix / "nginx.conf").write_text(main_nginx_config(self.prefix))

    def check(self) -> None:
        """`nginx -t`: the configuration parses and every path in it is usable."""
        checked = subprocess.run(  # noqa: S603 - nginx from PATH, our own files
            [*self.command, "-t", "-q"], capture_output=True, text=True, check=False
        )
        if checked.returncode != 0:
            raise StackError(f"nginx refused its configuration: {checked.stderr.strip()}")

    def start(self) -> subprocess.Popen[bytes]:
        with open(self.error_log, "ab") as log:
            return subprocess.Popen(  # noqa: S603 - as above
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def main_nginx_config(prefix: Path) -> str:
    """What the nginx image's own nginx.conf provides in compose: one process, in the
    foreground, every file under the stack's directory."""
    temp = prefix / "temp"
    return f"""\
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
events {{
    worker_connections 4096;
}}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {prefix}/gochat.conf;
}}
"""


def run_stack(*, gateway_port: int, ws_instances: int, run_dir: Path) -> None:
    """Start the stack, say where it is, and keep it until SIGINT or SIGTERM."""
    env = {k: v for k, v in os.environ.items() if k.startswith("GOCHAT_")}
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per readiness poll
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stack = Stack(env, run_dir, gateway_port=gateway_port, ws_instances=ws_instances)
    try:
        stack.start()
        ports = ", ".join(f"{name} :{p.port}" for name, p in stack.services.items())
        print(f"gochat stack: {stack.url} ({ports}); logs in {stack.logs}", file=sys.stderr)
        reported: set[str] = set()
        while not stop.wait(1.0):
            for name, process in stack.services.items():
                if not process.is_running() and name not in reported:
                    reported.add(name)
                    print(f"gochat stack: {name} exited; see {process.log_path}", file=sys.stderr)
    except (StackError, ProcessFailed) as exc:
        sys.exit(f"gochat stack: {exc}")
    finally:
        stack.stop()
