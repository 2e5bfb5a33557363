from __future__ import annotations

import asyncio
import os
import threading

import pytest

from shared.errors import ServiceBusy
from shared.passwords import HASH_THREAD_NICE, PasswordHasher
from tests.conftest import make_settings


@pytest.fixture
def hasher(tmp_path) -> PasswordHasher:  # type: ignore[no-untyped-def]
    settings = make_settings(
        "sqlite+aiosqlite:///x.db", tmp_path, password_hash_concurrency=2, password_hash_queue=3
    )
    return PasswordHasher(settings)


async def test_hashes_are_argon2id_and_verify(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert await hasher.verify("correct horse", hashed) == (True, None)
    assert (await hasher.verify("wrong horse", hashed))[0] is False
    assert await hasher.verify("anything", None) == (False, None)


async def test_production_parameters_are_owasp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        "sqlite+aiosqlite:///x.db", tmp_path, argon2_memory_kib=19 * 1024, argon2_time_cost=2
    )
    hashed = await PasswordHasher(settings).hash("pw")
    assert "$m=19456,t=2,p=1$" in hashed


async def test_outdated_hash_is_upgraded_on_verify(hasher: PasswordHasher, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = PasswordHasher(
        make_settings("sqlite+aiosqlite:///x.db", tmp_path, argon2_memory_kib=2048)
    )
    ok, new_hash = await hasher.verify("pw", await old.hash("pw"))
    assert ok and new_hash is not None and "m=1024" in new_hash


async def test_hashing_runs_off_the_event_loop(hasher: PasswordHasher) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = hasher._context.hash

    def spy(secret: str) -> str:
        seen.append(threading.get_ident())
        return original(secret)

    hasher._context.hash = spy  # type: ignore[method-assign]
    await hasher.hash("pw")
    assert seen and seen[0] != loop_thread


async def test_waiting_line_is_bounded(hasher: PasswordHasher) -> None:
    """2 run, 3 wait; the 6th caller is refused at once instead of queueing without limit."""
    release = threading.Event()
    original = hasher._context.hash

    def slow(secret: str) -> str:
        release.wait(10)
        return original(secret)

    hasher._context.hash = slow  # type: ignore[method-assign]
    running = [asyncio.create_task(hasher.hash("pw")) for _ in range(5)]
    await asyncio.sleep(0.2)
    with pytest.raises(ServiceBusy):
        await hasher.hash("pw")
    release.set()
    assert all(h.startswith("$argon2id$") for h in await asyncio.gather(*running))


async def test_hashing_threads_yield_the_core_to_the_event_loop(hasher: PasswordHasher) -> None:
    """A login flood must not slow the requests that need no hash: the hashing threads run
    at the lowest priority, the loop's thread keeps its own."""
    niceness: list[int] = []
    original = hasher._context.hash

    def spy(secret: str) -> str:
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return original(secret)

    hasher._context.hash = spy  # type: ignore[method-assign]
    await hasher.hash("pw")
    assert niceness == [HASH_THREAD_NICE]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < HASH_THREAD_NICE
    hasher.close()
