"""Ending background tasks: every task has an owner that cancels it and waits for it."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks and wait until each has finished, so none outlives its owner.

    `gather` rather than awaiting each under `suppress(CancelledError)`: that would also
    swallow a cancellation of the caller itself, which must propagate.
    """
    live = [task for task in tasks if task is not None]
    for task in live:
        task.cancel()
    if live:
        await asyncio.gather(*live, return_exceptions=True)
