"""What happens when a core task of the chat service dies: never a silently deaf instance.

Each long-lived task (the hub, the stream reader, the room watcher, the account-events
consumer) gets a done-callback; a task that ends while its owner is not stopping calls the
owner's `on_failure(name, exc)`: the service's `shared.supervision.Supervisor`, which makes
`/readyz` 503 and stops the process (the orchestrator then starts a fresh one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from shared.supervision import OnFailure


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
    cancelled) while `stopping()` is false. Its owner still cancels and awaits it."""
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
