"""Fixed-window rate limits (the `limits` library): in Redis when configured, so that every
instance counts against the same window, in process memory otherwise.

An attempt is counted *before* the work it guards, in one atomic step (a Lua script in Redis,
a lock in memory), so a burst sent at once cannot pass the check together: at most the
limit's number of attempts go through per window, whatever the concurrency. Work whose
outcome decides that it should not have counted (a successful login) gives its count back
with `refund`.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import Redis

from shared.errors import TooManyRequests


class RateLimiter:
    def __init__(self, redis: Redis | None, *, redis_url: str | None, prefix: str) -> None:
        storage: Storage
        if redis is None or redis_url is None:
            storage = MemoryStorage()
        else:
            # Reuse the runtime's pool: one set of Redis connections, closed by its owner.
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=prefix,
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
            )
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)

    async def hit(self, limit: str, *key: str, detail: str) -> None:
        """Count one attempt against every window of `limit` ("10/minute;100/hour"); raise
        429 with `Retry-After` when it goes over. A refused attempt gives back what it took."""
        counted: list[RateLimitItem] = []
        for item in parse_many(limit):
            if not await self._limiter.hit(item, *key):
                await self._take_back(item, key)
                for earlier in counted:
                    await self._take_back(earlier, key)
                raise TooManyRequests(detail, retry_after=await self._retry_after(item, key))
            counted.append(item)

    async def refund(self, limit: str, *key: str) -> None:
        """Give back one attempt counted by `hit` (its outcome turned out not to count)."""
        for item in parse_many(limit):
            await self._take_back(item, key)

    async def _take_back(self, item: RateLimitItem, key: tuple[str, ...]) -> None:
        name = item.key_for(*key)
        left = await self._storage.incr(name, item.get_expiry(), amount=-1)
        if left < 0:  # the window ended meanwhile: the new one must not start in credit
            await self._storage.incr(name, item.get_expiry(), amount=-left)

    async def _retry_after(self, item: RateLimitItem, key: tuple[str, ...]) -> int:
        stats = await self._limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))
