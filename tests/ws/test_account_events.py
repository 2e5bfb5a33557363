"""A logged-out or deleted user's sockets are closed with 4401 at once."""

from __future__ import annotations

import httpx

from tests.support.servers import ThreadServer
from tests.support.users import PASSWORD, Account
from tests.ws.chat_client import (
    close_code,
    create_room,
    join,
    messages,
    next_of,
    send_message,
    until_ready,
)


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
        assert (await client.post("/auth/logout", headers=alice.headers)).status_code == 202
        assert await close_code(tab1) == 4401
        assert await close_code(tab2) == 4401
        await send_message(phone, "still here")
        assert (await messages(other, 1))[0]["content"] == "still here"


async def test_deleting_an_account_closes_its_sockets_with_4401_and_the_room_goes_on(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    """The user service erases the account (its messages become tombstones) and publishes
    `user_deleted`: its sockets close, the others hear `account_gone`."""
    room_id = await create_room(client, bob)
    async with (
        join(dev_server.url, room_id, alice) as mine,
        join(dev_server.url, room_id, bob) as other,
    ):
        await until_ready(mine)
        await until_ready(other)
        for ws, text in ((other, "from bob"), (mine, "from alice"), (other, "bob again")):
            await send_message(ws, text)
            await messages(other, 1)
        deleted = await client.delete("/users/delete", headers=alice.headers)
        assert deleted.status_code == 204
        assert await close_code(mine) == 4401
        gone = await next_of(other, "account_gone")
        assert gone == {"type": "account_gone", "room_id": room_id, "user_id": alice.id}
        await send_message(other, "after")
        assert (await messages(other, 1))[0]["id"] == 4
    async with join(dev_server.url, room_id, bob) as later:
        history, ready = await until_ready(later)
    assert [(m["id"], m["content"], m["user_id"], m["deleted"]) for m in history] == [
        (1, "from bob", bob.id, False),
        (2, "", None, True),
        (3, "bob again", bob.id, False),
        (4, "after", bob.id, False),
    ]
    assert history[1]["username"] is None
    assert ready["last_id"] == 4
