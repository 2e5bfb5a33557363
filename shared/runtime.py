"""Everything a service holds for its lifetime, built in its lifespan and closed in order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.availability import DatabaseGate
from shared.broker import Broker, MemoryBroker, RedisBroker
from shared.database import (
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
    create_statement_sessionmaker,
)
from shared.ratelimit import RateLimiter
from shared.settings import Settings
from shared.tokens import TokenCodec


@dataclass(slots=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # For safe-method requests of services that ask for it (`get_db`): no transaction.
    read_sessionmaker: async_sessionmaker[AsyncSession]
    # For writes done in one statement (`StatementDb`): autocommit on PostgreSQL.
    statement_sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None
    broker: Broker
    tokens: TokenCodec
    rate_limiter: RateLimiter
    database: DatabaseGate

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, *, mint_tokens: bool = False) -> AsyncIterator[Runtime]:
        """Keys are checked before anything is served, and a schema that is behind stops the
        start. A database or Redis that is not up yet does not: the database gate keeps
        checking in the background, and requests that need what is missing get 503.

        `mint_tokens` loads the private key: only the auth service (and the all-in-one dev
        server that contains it) asks for it.
        """
        tokens = TokenCodec.from_settings(settings, need_private=mint_tokens)
        engine = create_engine(settings)
        gate = DatabaseGate(engine)
        redis: Redis | None = None
        try:
            await gate.start()
            if settings.redis_url:
                redis = connect_redis(settings.redis_url)
            broker: Broker = RedisBroker(redis) if redis is not None else MemoryBroker()
            yield cls(
                settings=settings,
                engine=engine,
                sessionmaker=create_sessionmaker(engine),
                read_sessionmaker=create_read_sessionmaker(engine),
                statement_sessionmaker=create_statement_sessionmaker(engine),
                redis=redis,
                broker=broker,
                tokens=tokens,
                rate_limiter=RateLimiter(
                    redis, redis_url=settings.redis_url, prefix=f"{settings.redis_namespace}:rl"
                ),
                database=gate,
            )
        finally:
            await gate.aclose()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()


def connect_redis(url: str) -> Redis:
    """A client that rides out a Redis restart: a command that meets a dropped connection
    reconnects and retries for about a second, then fails (503) rather than hang.
    Connections are made lazily, so a Redis that is not up yet does not stop a start."""
    return Redis.from_url(
        url,
        health_check_interval=30,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=4),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
