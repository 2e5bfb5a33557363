"""argon2id password hashing, off the event loop and bounded.

Hashing costs ~25 ms of CPU and 19 MiB of memory with the OWASP parameters; a login flood
must neither freeze the loop nor allocate memory without limit. So hashes run in worker
threads, at most `password_hash_concurrency` at once, and at most `password_hash_queue`
callers wait for a turn: the rest are told the server is busy at once.

The hashing threads are the process's own and run at the lowest CPU priority (nice 19, on
Linux): while a login flood keeps them busy, the event loop's thread still gets the core
whenever it has work, so requests that need no hash (`GET /`, token checks) stay fast and
the hashes use the time left over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio
from passlib.context import CryptContext

from shared.errors import ServiceBusy
from shared.settings import Settings

HASH_THREAD_NICE = 19
T = TypeVar("T")


def _lower_priority() -> None:
    """Runs first in every hashing thread (a thread is its own scheduling entity on Linux)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_THREAD_NICE)


class PasswordHasher:
    def __init__(self, settings: Settings) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=settings.argon2_memory_kib,
            argon2__rounds=settings.argon2_time_cost,
            argon2__parallelism=settings.argon2_parallelism,
        )
        self._limiter = anyio.CapacityLimiter(settings.password_hash_concurrency)
        self._threads = ThreadPoolExecutor(
            max_workers=settings.password_hash_concurrency,
            thread_name_prefix="argon2id",
            initializer=_lower_priority,
        )
        self._max_waiting = settings.password_hash_queue
        self.operations = 0  # hashes and verifications started, for metrics and tests
        # Verifying against this when the account does not exist costs the same time as a
        # real check, so response times do not reveal which accounts exist.
        self._dummy_hash: str = self._context.hash("not a real password")

    async def hash(self, password: str) -> str:
        self._admit()
        return await self._in_thread(self._context.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> tuple[bool, str | None]:
        """Whether the password matches, and a new hash when the stored one is outdated.

        A `None` hash (no such user) is checked against a dummy and never matches.
        """
        self._admit()
        stored = password_hash if password_hash is not None else self._dummy_hash
        ok, new_hash = await self._in_thread(self._context.verify_and_update, password, stored)
        if password_hash is None:
            return False, None
        return bool(ok), new_hash

    def close(self) -> None:
        """Stop the hashing threads (those running finish their hash)."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _in_thread(self, work: Callable[..., T], *args: object) -> T:
        async with self._limiter:
            return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    def _admit(self) -> None:
        if self._limiter.statistics().tasks_waiting >= self._max_waiting:
            raise ServiceBusy("too many password checks in progress; try again shortly")
        self.operations += 1
