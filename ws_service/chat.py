"""The chat service's long-lived parts, built and closed in order by the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.database import create_engine, create_sessionmaker
from shared.runtime import Runtime
from shared.settings import Settings
from shared.supervision import Supervisor
from ws_service.accounts.session_guard import SessionGuard
from ws_service.connection.admissions import Admissions
from ws_service.connection.caps import ConnectionCaps
from ws_service.delivery.feed import RoomFeed
from ws_service.delivery.hub import RoomHub
from ws_service.events.streams import EventStreams
from ws_service.messages.store import MessageStore
from ws_service.messages.stream import PresenceChange, encode_presence, room_channel
from ws_service.metrics import ChatMetrics
from ws_service.presence.base import Presence
from ws_service.presence.in_memory import MemoryPresence
from ws_service.presence.in_redis import RedisPresence


@dataclass(frozen=True, slots=True)
class Chat:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    hub: RoomHub
    events: EventStreams
    store: MessageStore
    presence: Presence
    metrics: ChatMetrics
    caps: ConnectionCaps
    admissions: Admissions


@asynccontextmanager
async def open_chat(
    runtime: Runtime, *, metrics: ChatMetrics, supervisor: Supervisor
) -> AsyncIterator[Chat]:
    """On the way out handshakes still being admitted are refused (503), then the session
    guard goes, then the people's event streams and the hub (every socket closed with
    1012), then presence (this instance's users leave at once, not after the TTL), then the
    message writer. A core task that ends early is reported to `supervisor` (`/readyz`
    503, then the process stops)."""
    settings = runtime.settings
    namespace = settings.redis_namespace

    async def announce(change: PresenceChange) -> None:
        await runtime.broker.publish(
            room_channel(namespace, change.room_id), encode_presence(change)
        )

    presence: Presence = (
        RedisPresence(
            announce,
            runtime.redis,
            namespace=settings.redis_namespace,
            ttl_seconds=settings.presence_ttl_seconds,
            heartbeat_seconds=settings.presence_heartbeat_seconds,
        )
        if runtime.redis is not None
        else MemoryPresence(announce)
    )
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(
            MessageStore(
                await _writer_sessionmaker(runtime, stack),
                runtime.broker,
                namespace,
                queue_size=settings.ws_store_queue_size,
                batch_max=settings.ws_store_batch_max,
                on_failure=supervisor.on_failure,
            )
        )
        await stack.enter_async_context(presence)
        # The room channels with a local interest here, read and decoded once for both the
        # hub and the events dispatcher.
        feed = await stack.enter_async_context(
            RoomFeed(
                broker=runtime.broker,
                namespace=namespace,
                queue_size=settings.ws_hub_queue_size,
                on_failure=supervisor.on_failure,
            )
        )
        hub = await stack.enter_async_context(
            RoomHub(
                broker=runtime.broker,
                namespace=settings.redis_namespace,
                sessionmaker=runtime.sessionmaker,
                queue_size=settings.ws_hub_queue_size,
                gap_wait=settings.ws_gap_wait_ms / 1000,
                room_check_seconds=settings.ws_room_check_seconds,
                presence=presence,
                presence_settle_seconds=(
                    settings.presence_heartbeat_seconds if runtime.redis is not None else 0.0
                ),
                metrics=metrics,
                feed=feed,
                on_failure=supervisor.on_failure,
            )
        )
        if isinstance(presence, RedisPresence):
            presence.on_lost = hub.repair_presence
        events = await stack.enter_async_context(
            EventStreams(
                broker=runtime.broker,
                namespace=settings.redis_namespace,
                sessionmaker=runtime.sessionmaker,
                presence=presence,
                queue_size=settings.ws_hub_queue_size,
                feed=feed,
                on_failure=supervisor.on_failure,
            )
        )
        await stack.enter_async_context(
            SessionGuard(
                broker=runtime.broker,
                namespace=settings.redis_namespace,
                # It only reads: no BEGIN and COMMIT round trips on PostgreSQL.
                sessionmaker=runtime.read_sessionmaker,
                hub=hub,
                events=events,
                queue_size=settings.ws_hub_queue_size,
                check_seconds=settings.ws_session_check_seconds,
                on_failure=supervisor.on_failure,
            )
        )
        admissions = await stack.enter_async_context(
            Admissions(reader=runtime.read_sessionmaker, writer=runtime.sessionmaker)
        )
        metrics.follow(
            connections=lambda: hub.connections + events.connections,
            frames_sent=lambda: hub.delivered + events.delivered,
            broker_events=lambda: feed.received,
            broker_events_unwanted=lambda: feed.unwanted,
            rooms_subscribed=lambda: feed.rooms_held,
        )
        yield Chat(
            settings=settings,
            sessionmaker=runtime.sessionmaker,
            hub=hub,
            events=events,
            store=store,
            presence=presence,
            metrics=metrics,
            caps=ConnectionCaps(
                per_user=settings.ws_max_connections_per_user,
                per_address=settings.ws_max_connections_per_address,
                handshake_rate=settings.ws_handshake_rate_per_second,
                handshake_burst=settings.ws_handshake_burst,
            ),
            admissions=admissions,
        )


async def _writer_sessionmaker(
    runtime: Runtime, stack: AsyncExitStack
) -> async_sessionmaker[AsyncSession]:
    """The message writer's own connections on PostgreSQL (it needs one at a time): a storm
    of handshakes, each holding a pooled connection while it is admitted, must not keep
    stored messages waiting for the shared pool (it did: pool timeouts failed whole
    batches). SQLite has one connection per process, which the writer shares."""
    if runtime.engine.dialect.name == "sqlite":
        return runtime.sessionmaker
    engine = create_engine(runtime.settings.model_copy(update={"database_pool_size": 1}))
    stack.push_async_callback(engine.dispose)
    return create_sessionmaker(engine)
