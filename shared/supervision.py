"""Core tasks that must never end while a service runs, and what happens when one does.

A service's core tasks (the chat service's message writer, its hub's tasks) run for the
whole life of the process; if one ends early (an exception, a bug, a cancellation nobody
asked for) the instance is deaf or dumb while looking alive. The owner of such a task
reports its end to the `Supervisor` (a done-callback calls `on_failure`). Then:

1. `/readyz` answers 503 naming the task, so the load balancer stops sending clients;
2. the process stops itself with SIGTERM: a graceful shutdown (sockets closed with 1012,
   clients reconnect elsewhere with `?after=`), after which the orchestrator starts a fresh
   process (compose: `restart: unless-stopped`).

Restarting the task in place was not chosen: a task that died of a bug usually dies again,
and the state it shares with the rest of the process (queues, room maps, futures) is
exactly what a bug leaves inconsistent; a fresh process rebuilds all of it from the
database and Redis.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Any

logger = logging.getLogger("gochat.supervision")

StopProcess = Callable[[], None]
# What an owner calls when one of its core tasks ends early (`exc` None: it returned or was
# cancelled); the service passes its `Supervisor.on_failure`.
OnFailure = Callable[[str, BaseException | None], None]


def stop_this_process() -> None:
    """SIGTERM to this process: the server shuts down as it would for its orchestrator."""
    os.kill(os.getpid(), signal.SIGTERM)


class Supervisor:
    """Records the core tasks that ended early and stops the process once."""

    def __init__(self, *, stop: StopProcess = stop_this_process) -> None:
        self._stop = stop
        self._failures: dict[str, str] = {}
        self._closing = False

    @property
    def failures(self) -> dict[str, str]:
        """Task name -> what ended it, for `/readyz`."""
        return dict(self._failures)

    def on_failure(self, name: str, exc: BaseException | None) -> None:
        """A core task ended while the service runs (`exc` None: it returned or was
        cancelled). Safe to call from a done-callback; after `close()` it is ignored."""
        if self._closing:
            return
        what = "stopped" if exc is None else f"failed ({type(exc).__name__}: {exc})"
        first = not self._failures
        self._failures[name] = what
        logger.critical("core task %s %s; stopping the process", name, what, exc_info=exc or None)
        if first:
            # Not from inside the callback: let the failure be recorded and logged first.
            asyncio.get_running_loop().call_soon(self._stop)

    def close(self) -> None:
        """The service is shutting down: tasks ending from now on are expected."""
        self._closing = True


class TaskEnded(Exception):
    """A task that should run for its owner's lifetime returned."""


def start_supervised(
    work: Coroutine[Any, Any, None],
    name: str,
    *,
    stopping: Callable[[], bool],
    on_failure: OnFailure,
) -> asyncio.Task[None]:
    """A task for `work` that calls `on_failure` if it ends (returns, raises or is
    cancelled) while `stopping()` is false: how an owner (the chat hub, its session guard)
    reports its core tasks to the `Supervisor`. Its owner still cancels and awaits it."""
    task = asyncio.create_task(work, name=name)

    def done(finished: asyncio.Task[None]) -> None:
        if stopping():
            return
        if finished.cancelled():
            failure: BaseException = asyncio.CancelledError(f"{name} was cancelled")
        else:
            failure = finished.exception() or TaskEnded(f"{name} returned")
        on_failure(name, failure)

    task.add_done_callback(done)
    return task
