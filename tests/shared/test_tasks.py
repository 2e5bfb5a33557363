from __future__ import annotations

import asyncio

import pytest

from shared.tasks import cancel_and_wait


async def test_tasks_are_cancelled_and_finished_before_it_returns() -> None:
    cleaned: list[str] = []

    async def worker(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(name)

    tasks = [asyncio.create_task(worker(n)) for n in ("a", "b")]
    await asyncio.sleep(0)
    await cancel_and_wait(*tasks, None)
    assert sorted(cleaned) == ["a", "b"]
    assert all(task.cancelled() for task in tasks)


async def test_the_callers_own_cancellation_still_propagates() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await release.wait()  # slow to finish
            raise

    inner = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    owner = asyncio.create_task(cancel_and_wait(inner))
    await asyncio.sleep(0.01)
    owner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await owner
    release.set()
    await asyncio.gather(inner, return_exceptions=True)
