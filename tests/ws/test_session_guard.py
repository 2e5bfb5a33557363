"""Sockets of ended sessions are closed with 4401: account events, a re-check of each new
connection, and a periodic re-check of every open one (real database, in-process broker)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
from sqlalchemy import update

from shared.broker import MemoryBroker
from shared.database import unit_of_work
from shared.events import AccountEvent, publish_account_event
from shared.models import Session, utcnow
from shared.sessions import revoke_session
from tests.support.users import PASSWORD, Account
from tests.ws.test_hub import Sessionmaker, client_of, eventually, fail_the_test, hub_for
from ws_service.accounts.session_guard import SessionGuard
from ws_service.delivery.hub import RoomHub


def session_of(token: str) -> uuid.UUID:
    payload = token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return uuid.UUID(claims["sid"])


@asynccontextmanager
async def guarded_hub(
    broker: MemoryBroker, namespace: str, sessionmaker: Sessionmaker, *, check_seconds: float = 60
) -> AsyncIterator[RoomHub]:
    async with (
        hub_for(broker, namespace, sessionmaker) as hub,
        SessionGuard(
            broker=broker,
            namespace=namespace,
            sessionmaker=sessionmaker,
            hub=hub,
            queue_size=100,
            check_seconds=check_seconds,
            on_failure=fail_the_test,
        ),
    ):
        yield hub


async def test_account_events_close_the_sessions_they_name_with_4401(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    room_id: str,
    broker: MemoryBroker,
    sessionmaker: Sessionmaker,
    namespace: str,
) -> None:
    login = await client.post("/auth/login", json={"email": alice.email, "password": PASSWORD})
    async with guarded_hub(broker, namespace, sessionmaker) as hub:
        phone, phone_sink = client_of(alice, room_id, session_of(alice.token))
        laptop, laptop_sink = client_of(alice, room_id, session_of(login.json()["access_token"]))
        other, other_sink = client_of(bob, room_id, session_of(bob.token))
        for member in (phone, laptop, other):
            await hub.join(member, stored_last_seq=0)
        await publish_account_event(
            broker, namespace, AccountEvent("session_revoked", alice.id, phone.session_id)
        )
        await eventually(lambda: phone_sink.closed_with == 4401)
        assert laptop_sink.closed_with is None and other_sink.closed_with is None
        await publish_account_event(broker, namespace, AccountEvent("user_deleted", alice.id))
        await eventually(lambda: laptop_sink.closed_with == 4401)
        assert other_sink.closed_with is None


async def test_a_session_that_ended_during_the_handshake_is_closed_once_registered(
    client: httpx.AsyncClient,
    alice: Account,
    room_id: str,
    broker: MemoryBroker,
    sessionmaker: Sessionmaker,
    namespace: str,
) -> None:
    """Defect 6: the logout's event went out before the hub knew the socket."""
    login = await client.post("/auth/login", json={"email": alice.email, "password": PASSWORD})
    session_id = session_of(login.json()["access_token"])
    async with guarded_hub(broker, namespace, sessionmaker) as hub:
        live, live_sink = client_of(alice, room_id, session_of(alice.token))
        await hub.join(live, stored_last_seq=0)
        # Admission read the session live; then the logout committed and was announced.
        async with unit_of_work(sessionmaker) as db:
            await revoke_session(db, session_id=session_id)
        await publish_account_event(
            broker, namespace, AccountEvent("session_revoked", alice.id, session_id)
        )
        late, late_sink = client_of(alice, room_id, session_id)
        await hub.join(late, stored_last_seq=0)
        await eventually(lambda: late_sink.closed_with == 4401)
        assert live_sink.closed_with is None


async def test_open_sockets_of_expired_sessions_are_closed_by_the_periodic_check(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    room_id: str,
    broker: MemoryBroker,
    sessionmaker: Sessionmaker,
    namespace: str,
) -> None:
    """Defect 6: a token that expires while its socket is open; no event is ever sent."""
    login = await client.post("/auth/login", json={"email": alice.email, "password": PASSWORD})
    session_id = session_of(login.json()["access_token"])
    async with guarded_hub(broker, namespace, sessionmaker, check_seconds=0.2) as hub:
        expiring, expiring_sink = client_of(alice, room_id, session_id)
        other, other_sink = client_of(bob, room_id, session_of(bob.token))
        for member in (expiring, other):
            await hub.join(member, stored_last_seq=0)
        async with unit_of_work(sessionmaker) as db:
            await db.execute(
                update(Session).where(Session.id == session_id).values(expires_at=utcnow())
            )
        await eventually(lambda: expiring_sink.closed_with == 4401)
        assert other_sink.closed_with is None


async def test_a_socket_whose_removal_committed_during_its_handshake_is_closed_on_registering(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    room_id: str,
    broker: MemoryBroker,
    sessionmaker: Sessionmaker,
    namespace: str,
) -> None:
    """Issue 12: admission let Bob in; then a kick (private room) or a ban (public room)
    committed and was announced before the hub knew his socket. The re-check after
    registration closes it with 4403; Alice's sockets stay."""
    created = await client.post(
        "/chat/ws/createRoom", json={"name": "secret", "private": True}, headers=alice.headers
    )
    private_id = created.json()["id"]
    banned = await client.post(f"/chat/ws/rooms/{room_id}/bans/{bob.id}", headers=alice.headers)
    assert banned.status_code == 200, banned.text
    async with guarded_hub(broker, namespace, sessionmaker) as hub:
        owner, owner_sink = client_of(alice, private_id, session_of(alice.token))
        await hub.join(owner, stored_last_seq=0)
        late_sinks = []
        for room in (private_id, room_id):  # not a member / banned
            late, late_sink = client_of(bob, room, session_of(bob.token))
            await hub.join(late, stored_last_seq=0)
            late_sinks.append(late_sink)
        await eventually(lambda: all(sink.closed_with == 4403 for sink in late_sinks))
        assert owner_sink.closed_with is None
