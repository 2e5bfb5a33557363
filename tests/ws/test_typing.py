"""`{"type": "typing"}` on one instance (both databases); across two instances, see
test_live_instances.py."""

from __future__ import annotations

import httpx
import orjson

from tests.support.servers import ThreadServer
from tests.support.users import Account
from tests.ws.chat_client import create_room, join, next_of, send_message, until_ready
from tests.ws.test_events import quiet


async def test_typing_is_shown_to_the_others_once_per_two_seconds_and_never_stored(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    typing = orjson.dumps({"type": "typing"}).decode()
    async with (
        join(dev_server.url, room_id, alice) as alice_in,
        join(dev_server.url, room_id, alice) as alice_again,
        join(dev_server.url, room_id, bob) as bob_in,
    ):
        for ws in (alice_in, alice_again, bob_in):
            await until_ready(ws)
        for _ in range(3):
            await alice_in.send(typing)
        assert await next_of(bob_in, "typing") == {
            "type": "typing",
            "room_id": room_id,
            "user_id": alice.id,
            "username": alice.username,
        }
        assert [f for f in await quiet(bob_in, 0.5) if f["type"] == "typing"] == []
        for ws in (alice_in, alice_again):
            assert [f for f in await quiet(ws, 0.2) if f["type"] == "typing"] == []
        await send_message(alice_in, "done typing")
        await next_of(bob_in, "message")
    async with join(dev_server.url, room_id, bob) as later:
        history, ready = await until_ready(later)
        assert [m["content"] for m in history] == ["done typing"]
        assert ready["last_id"] == 1
