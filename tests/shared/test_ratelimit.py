from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from shared.errors import TooManyRequests
from shared.runtime import Runtime
from shared.settings import Settings
from tests.conftest import make_settings


async def test_runtime_on_redis_starts_and_counts_in_redis(
    settings: Settings, data_dir: Path, redis_url: str
) -> None:
    on_redis = make_settings(settings.database_url, data_dir, redis_url=redis_url)
    key = secrets.token_hex(8)
    async with Runtime.open(on_redis) as runtime:
        for _ in range(2):
            await runtime.rate_limiter.hit("2/minute", "test", key, detail="slow down")
        with pytest.raises(TooManyRequests):
            await runtime.rate_limiter.hit("2/minute", "test", key, detail="slow down")
    # A second runtime (another instance) sees the same window.
    async with Runtime.open(on_redis) as other:
        with pytest.raises(TooManyRequests):
            await other.rate_limiter.ensure_not_exhausted("2/minute", "test", key, detail="x")
