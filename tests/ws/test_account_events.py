"""A logged-out or deleted user's sockets are closed with 4401 at once."""

from __future__ import annotations

import asyncio
import time

import httpx

from shared.events import AccountEvent, publish_account_event
from tests.support.servers import ThreadServer
from tests.support.users import PASSWORD, Account
from tests.ws.chat_client import close_code, create_room, join, messages, send_message, until_ready


async def test_logout_closes_that_sessions_sockets_with_4401(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    login = await client.post("/auth/login", json={"email": alice.email, "password": PASSWORD})
    other_session = {"Authorization": f"Bearer {login.json()['access_token']}"}
    async with (
        join(dev_server.url, room_id, alice) as tab1,
        join(dev_server.url, room_id, alice) as tab2,
        join(dev_server.url, room_id, None, headers=other_session) as phone,
        join(dev_server.url, room_id, bob) as other,
    ):
        for ws in (tab1, tab2, phone, other):
            await until_ready(ws)
        started = time.monotonic()
        assert (await client.post("/auth/logout", headers=alice.headers)).status_code == 202
        assert await close_code(tab1, timeout=1) == 4401
        assert await close_code(tab2, timeout=1) == 4401
        assert time.monotonic() - started < 1
        await send_message(phone, "still here")
        assert (await messages(other, 1))[0]["content"] == "still here"


async def test_a_deleted_users_sockets_are_closed_with_4401(
    client: httpx.AsyncClient, chat_server: ThreadServer, alice: Account, bob: Account
) -> None:
    """The user service publishes `user_deleted` after the deletion commits."""
    room_id = await create_room(client, alice)
    async with (
        join(chat_server.url, room_id, alice, prefix="") as mine,
        join(chat_server.url, room_id, bob, prefix="") as other,
    ):
        await until_ready(mine)
        await until_ready(other)
        runtime = chat_server.app.state.runtime
        published = asyncio.run_coroutine_threadsafe(
            publish_account_event(
                runtime.broker,
                runtime.settings.redis_namespace,
                AccountEvent(kind="user_deleted", user_id=alice.id),
            ),
            chat_server.server.servers[0].get_loop(),
        )
        await asyncio.wrap_future(published)
        assert await close_code(mine, timeout=1) == 4401
        await send_message(other, "bob stays")
        assert (await messages(other, 1))[0]["content"] == "bob stays"
