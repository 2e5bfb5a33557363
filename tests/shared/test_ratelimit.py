"""The sliding-window limiter, in memory and in Redis: atomic under concurrency, no double
burst around a window boundary, and a refund gives back the very attempt it counted."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.errors import TooManyRequests
from shared.ratelimit import RateLimiter


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    prefix = f"test-rl-{secrets.token_hex(4)}"
    if request.param == "memory":
        yield RateLimiter(None, redis_url=None, prefix=prefix)
        return
    url: str = request.getfixturevalue("redis_url")
    redis = Redis.from_url(url)
    try:
        yield RateLimiter(redis, redis_url=url, prefix=prefix)
    finally:
        await redis.aclose()


async def _passes(limiter: RateLimiter, limit: str, count: int) -> int:
    async def one() -> bool:
        try:
            await limiter.hit(limit, "k", detail="slow down")
        except TooManyRequests:
            return False
        return True

    return sum(await asyncio.gather(*(one() for _ in range(count))))


async def test_a_concurrent_burst_passes_at_most_the_limit(limiter: RateLimiter) -> None:
    assert await _passes(limiter, "10/minute", 100) == 10


async def test_no_double_burst_around_a_window_boundary(limiter: RateLimiter) -> None:
    """Fixed windows (from the first attempt) let a second full burst through as soon as the
    window that began with the first attempt ends; the sliding window still holds the
    attempts of the last 4 s, so only as many pass as have left it."""
    limit, window = "4 per 4 seconds", 4.0
    first = time.monotonic()

    async def at(moment: float) -> None:
        await asyncio.sleep(max(0.0, first + moment - time.monotonic()))

    assert await _passes(limiter, limit, 1) == 1
    await at(1.0)
    assert await _passes(limiter, limit, 3) == 3
    await at(1.2)
    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit(limit, "k", detail="slow down")
    assert 1 <= refused.value.retry_after <= window  # when the first attempt leaves
    await at(window + 0.1)  # a fixed window from the first attempt ends here
    assert await _passes(limiter, limit, 4) == 1  # the first left; the 3 others stay


async def test_a_refund_gives_the_attempt_back(limiter: RateLimiter) -> None:
    counted = [await limiter.hit("3/minute", "k", detail="slow down") for _ in range(3)]
    with pytest.raises(TooManyRequests):
        await limiter.hit("3/minute", "k", detail="slow down")
    await limiter.refund(counted[0])
    await limiter.hit("3/minute", "k", detail="slow down")
    with pytest.raises(TooManyRequests):
        await limiter.hit("3/minute", "k", detail="slow down")


async def test_a_refused_attempt_takes_nothing_from_the_other_limits(
    limiter: RateLimiter,
) -> None:
    """With "2/minute;5/hour", attempts refused by the minute give the hour back."""
    for _ in range(2):
        await limiter.hit("2/minute;5/hour", "k", detail="slow down")
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            await limiter.hit("2/minute;5/hour", "k", detail="slow down")
    assert await _passes(limiter, "5/hour", 10) == 3  # the hour holds the 2 that passed


async def test_a_limit_of_zero_refuses_everything(limiter: RateLimiter) -> None:
    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit("0/minute", "k", detail="slow down")
    assert refused.value.retry_after == 60
