"""Driving `docker compose` on a copy of the project, as an operator would, with bounds."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def copy_project(destination: Path) -> Path:
    """The project's files as a clone has them (tracked and new, git-ignored ones left out:
    no .env, no keys, no .venv), so the test writes its own .env and keys like an operator."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@dataclass
class ComposeProject:
    """`docker compose -p NAME -f docker-compose.yml [-f OVERRIDE]` run in `directory`; every
    call has a time limit, and how long each step took is kept for the report."""

    directory: Path
    name: str
    overrides: list[Path] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def command(self, *args: str) -> list[str]:
        files = ["-f", "docker-compose.yml"]
        for override in self.overrides:
            files += ["-f", str(override)]
        return ["docker", "compose", "-p", self.name, *files, *args]

    def run(self, *args: str, timeout: float, step: str | None = None) -> str:
        """Runs one compose command; its output, or an AssertionError carrying it."""
        return self._run(self.command(*args), timeout=timeout, step=step)

    def docker(self, *args: str, timeout: float = 60, step: str | None = None) -> str:
        return self._run(["docker", *args], timeout=timeout, step=step)

    def _run(self, argv: list[str], *, timeout: float, step: str | None) -> str:
        started = time.monotonic()
        try:
            done = subprocess.run(
                argv,
                cwd=self.directory,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{' '.join(argv)} took over {timeout:.0f} s") from exc
        if step is not None:
            self.timings.append((step, time.monotonic() - started))
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{output}"
        return done.stdout

    def containers(self, service: str | None = None, *, every: bool = False) -> list[str]:
        """Ids of the project's containers (of one service), running ones unless `every`."""
        filters = ["--filter", f"label=com.docker.compose.project={self.name}"]
        if service is not None:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        listed = self.docker("ps", "--quiet", "--no-trunc", *(["--all"] if every else []), *filters)
        return listed.split()

    def leftovers(self) -> dict[str, list[str]]:
        """Whatever of the project Docker still holds: containers, networks, volumes."""
        label = f"label=com.docker.compose.project={self.name}"
        return {
            "containers": self.containers(every=True),
            "networks": self.docker("network", "ls", "--quiet", "--filter", label).split(),
            "volumes": self.docker("volume", "ls", "--quiet", "--filter", label).split(),
        }

    def states(self) -> dict[str, list[str]]:
        """Each service's containers as `state/health` strings (`running/healthy`, ...)."""
        found: dict[str, list[str]] = {}
        for line in self.run("ps", "--all", "--format", "json", timeout=30).splitlines():
            entry: dict[str, Any] = json.loads(line)
            health = entry.get("Health") or "-"
            found.setdefault(entry["Service"], []).append(f"{entry['State']}/{health}")
        return found

    def logs(self, container: str) -> str:
        done = subprocess.run(
            ["docker", "logs", container], capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout + done.stderr
