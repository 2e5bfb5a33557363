"""Everything a service holds for its lifetime, built in its lifespan and closed in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.broker import Broker, MemoryBroker, RedisBroker
from shared.database import create_engine, create_sessionmaker
from shared.passwords import PasswordHasher
from shared.ratelimit import RateLimiter
from shared.schema import ensure_at_head
from shared.settings import Settings
from shared.tokens import TokenCodec


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None
    broker: Broker
    tokens: TokenCodec
    rate_limiter: RateLimiter
    passwords: PasswordHasher | None

    @classmethod
    @asynccontextmanager
    async def open(
        cls, settings: Settings, *, mint_tokens: bool = False, hash_passwords: bool = False
    ) -> AsyncIterator[Runtime]:
        """Keys are checked and the schema must be at head before anything is served.

        `mint_tokens` loads the private key: only the auth service (and the all-in-one dev
        server that contains it) asks for it.
        """
        tokens = TokenCodec.from_settings(settings, need_private=mint_tokens)
        engine = create_engine(settings)
        redis: Redis | None = None
        try:
            await ensure_at_head(engine)
            if settings.redis_url:
                redis = Redis.from_url(settings.redis_url, health_check_interval=30)
            broker: Broker = RedisBroker(redis) if redis is not None else MemoryBroker()
            yield cls(
                settings=settings,
                engine=engine,
                sessionmaker=create_sessionmaker(engine),
                redis=redis,
                broker=broker,
                tokens=tokens,
                rate_limiter=RateLimiter(
                    redis, redis_url=settings.redis_url, prefix=f"{settings.redis_namespace}:rl"
                ),
                passwords=PasswordHasher(settings) if hash_passwords else None,
            )
        finally:
            if redis is not None:
                await redis.aclose()
            await engine.dispose()
