"""Moving-window rate limits (the `limits` library): in Redis when configured, so that every
instance counts against the same window, in process memory otherwise."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
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
        self._limiter = MovingWindowRateLimiter(storage)

    async def ensure_not_exhausted(self, limit: str, *key: str, detail: str) -> None:
        """Raise 429 with `Retry-After` when any of `limit` ("10/minute;100/hour") is used up.

        Checks without consuming, so it can run before expensive work whose outcome decides
        whether to count (e.g. only failed logins count).
        """
        for item in parse_many(limit):
            if not await self._limiter.test(item, *key):
                raise TooManyRequests(detail, retry_after=await self._retry_after(item, key))

    async def hit(self, limit: str, *key: str, detail: str) -> None:
        """Count one event; raise 429 when it goes over the limit."""
        for item in parse_many(limit):
            if not await self._limiter.hit(item, *key):
                raise TooManyRequests(detail, retry_after=await self._retry_after(item, key))

    async def record(self, limit: str, *key: str) -> None:
        """Count one event, whatever the outcome (it happened already)."""
        for item in parse_many(limit):
            await self._limiter.hit(item, *key)

    async def _retry_after(self, item: RateLimitItem, key: tuple[str, ...]) -> int:
        stats = await self._limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))
