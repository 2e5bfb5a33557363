"""Sliding-window rate limits: in Redis when configured, so that every instance counts
against the same window, in process memory otherwise.

A limit such as "10/minute" keeps the time of each attempt it let through in the last
minute (a sorted set in Redis, a list in memory) and refuses an attempt while it holds 10:
at most 10 in *any* 60 seconds. Fixed windows let twice the limit through around a window's
end (a full window's worth just before it, another just after); here an attempt counts until
a full minute has passed since it, and `Retry-After` says when the oldest one leaves.

An attempt is counted *before* the work it guards, in one atomic step (a Lua script in Redis;
no await between the check and the count in memory), so a burst sent at once cannot pass the
check together, whatever the concurrency. Work whose outcome decides that it should not have
counted (a successful login) gives that very attempt back with `refund`.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from shared.errors import TooManyRequests

# KEYS[1]: the limit's log; ARGV: limit, window in seconds, this attempt's unique id. Reads
# the clock of Redis (one clock for every instance; a script may since Redis 5).
# Answers {1, 0} when counted, {0, seconds until the oldest attempt leaves} when refused.
_HIT = """
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]) * 1000000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local since = tonumber(oldest[2]) or now  -- a limit of 0 logs nothing
  return {0, math.ceil((since + window - now) / 1000000)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, 0}
"""


@dataclass(frozen=True, slots=True)
class Counted:
    """The attempts one `hit` logged (a log key and the attempt's id per window), so that
    `refund` takes back exactly those."""

    entries: tuple[tuple[str, str], ...] = ()


class RateLimiter:
    def __init__(self, redis: Redis | None, *, redis_url: str | None, prefix: str) -> None:
        self._prefix = prefix
        # The runtime's client (one pool, closed by its owner), when Redis is configured.
        self._redis = redis if redis_url is not None else None
        self._hit: AsyncScript | None = None
        if self._redis is not None:
            self._hit = self._redis.register_script(_HIT)
        # In memory: log key -> (window, [(monotonic time, attempt id)], oldest first).
        self._logs: dict[str, tuple[float, list[tuple[float, str]]]] = {}
        self._next_sweep = 0.0

    async def hit(self, limit: str, *key: str, detail: str) -> Counted:
        """Count one attempt against every window of `limit` ("10/minute;100/hour"); raise
        429 with `Retry-After` when it goes over. A refused attempt gives back what it took."""
        entries: list[tuple[str, str]] = []
        for item in parse_many(limit):
            name, attempt = f"{self._prefix}:{item.key_for(*key)}", secrets.token_hex(8)
            retry_after = await self._count(name, attempt, item)
            if retry_after is not None:
                await self.refund(Counted(tuple(entries)))
                raise TooManyRequests(detail, retry_after=retry_after)
            entries.append((name, attempt))
        return Counted(tuple(entries))

    async def refund(self, counted: Counted) -> None:
        """Give back the attempts counted by one `hit` (its outcome turned out not to count)."""
        for name, attempt in counted.entries:
            if self._redis is not None:
                await self._redis.zrem(name, attempt)
            else:
                _, log = self._logs.get(name, (0.0, []))
                log[:] = [entry for entry in log if entry[1] != attempt]

    async def _count(self, name: str, attempt: str, item: RateLimitItem) -> int | None:
        """Log the attempt unless the window is full; None, or the seconds to wait."""
        window = item.get_expiry()
        if self._hit is not None:
            counted, retry_after = await self._hit(keys=[name], args=[item.amount, window, attempt])
            return None if counted else max(1, int(retry_after))
        # No await from the read to the write: atomic on the event loop.
        now = time.monotonic()
        self._sweep(now)
        _, log = self._logs.setdefault(name, (window, []))
        while log and log[0][0] <= now - window:
            log.pop(0)
        if len(log) >= item.amount:  # a limit of 0 logs nothing: wait a whole window
            return max(1, math.ceil((log[0][0] if log else now) + window - now))
        log.append((now, attempt))
        return None

    def _sweep(self, now: float) -> None:
        """Forget, now and then, the logs whose attempts have all left their window, so memory
        stays bounded by the keys in use."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + 10
        for name in [n for n, (w, log) in self._logs.items() if not log or log[-1][0] <= now - w]:
            del self._logs[name]
