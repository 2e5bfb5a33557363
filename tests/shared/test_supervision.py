"""The supervisor: a core task that ends early is named at /readyz and stops the process."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap

from shared.supervision import Supervisor


async def crash() -> None:
    raise RuntimeError("a bug")


def supervised(supervisor: Supervisor, name: str, work: object) -> asyncio.Task[None]:
    assert asyncio.iscoroutine(work)
    task: asyncio.Task[None] = asyncio.create_task(work, name=name)
    task.add_done_callback(
        lambda t: supervisor.on_failure(name, None if t.cancelled() else t.exception())
    )
    return task


async def test_a_failed_task_is_named_and_the_process_is_stopped_once() -> None:
    stops: list[str] = []
    supervisor = Supervisor(stop=lambda: stops.append("stop"))
    first = supervised(supervisor, "writer", crash())
    second = supervised(supervisor, "reader", asyncio.sleep(3600))
    await asyncio.gather(first, return_exceptions=True)
    second.cancel()
    await asyncio.gather(second, return_exceptions=True)
    await asyncio.sleep(0)  # the stop is called soon, not from inside the callback
    assert supervisor.failures == {
        "writer": "failed (RuntimeError: a bug)",
        "reader": "stopped",
    }
    assert stops == ["stop"]


async def test_tasks_ended_by_the_shutdown_are_not_failures() -> None:
    stops: list[str] = []
    supervisor = Supervisor(stop=lambda: stops.append("stop"))
    task = supervised(supervisor, "writer", asyncio.sleep(3600))
    supervisor.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert supervisor.failures == {}
    assert stops == []


def test_by_default_the_process_stops_itself_with_sigterm() -> None:
    """The real action, in a child process: the orchestrator sees it end by SIGTERM (a
    server would shut down gracefully on it)."""
    program = textwrap.dedent(
        """
        import asyncio
        from shared.supervision import Supervisor

        async def main():
            supervisor = Supervisor()
            async def crash():
                raise RuntimeError("a bug")
            task = asyncio.create_task(crash())
            task.add_done_callback(lambda t: supervisor.on_failure("writer", t.exception()))
            await asyncio.sleep(30)

        asyncio.run(main())
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, timeout=20, check=False
    )
    assert child.returncode == -signal.SIGTERM, child.stderr.decode()[-2000:]
    assert b"core task writer failed (RuntimeError: a bug)" in child.stderr
