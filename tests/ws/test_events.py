"""`/ws/events`: one live stream per person, on the all-in-one server (both databases)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.user.actions import USERS, follow, write_post
from tests.ws.chat_client import (
    TIMEOUT,
    create_room,
    join,
    next_of,
    recv,
    send_message,
    until_ready,
    ws_base,
)
from tests.ws.conversations import Api


def events(
    base_url: str, account: Account | None, *, prefix: str = "/chat", **options: Any
) -> connect:
    options.setdefault("open_timeout", TIMEOUT)
    headers = dict(account.headers if account is not None else {})
    headers.update(options.pop("headers", {}))
    return connect(f"{ws_base(base_url)}{prefix}/ws/events", additional_headers=headers, **options)


@contextlib.asynccontextmanager
async def stream(
    base_url: str, account: Account, *, prefix: str = "/chat"
) -> AsyncIterator[tuple[ClientConnection, dict[str, Any]]]:
    """An open events stream and its snapshot."""
    async with events(base_url, account, prefix=prefix) as ws:
        snapshot = await recv(ws)
        assert snapshot["type"] == "snapshot", snapshot
        yield ws, snapshot


def room_in(snapshot: dict[str, Any], room_id: str) -> dict[str, Any]:
    return next(room for room in snapshot["rooms"] if room["id"] == room_id)


async def quiet(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """Every frame that arrives within `seconds`."""
    frames: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frames.append(orjson.loads(await ws.recv()))
    return frames


async def test_refusals_come_before_the_upgrade(dev_server: ThreadServer, alice: Account) -> None:
    with pytest.raises(InvalidStatus) as no_token:
        async with events(dev_server.url, None):
            pass
    assert no_token.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as foreign:
        async with events(
            dev_server.url,
            None,
            headers={"Cookie": f"auth_token={alice.token}"},
            origin="https://evil.example",
        ):
            pass
    assert foreign.value.response.status_code == 403


async def test_activity_in_a_room_i_am_not_viewing_with_unread_counts(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with join(dev_server.url, room_id, bob) as bob_in:
        await until_ready(bob_in)
        async with stream(dev_server.url, alice) as (alice_events, snapshot):
            assert room_in(snapshot, room_id)["unread"] == 0
            assert snapshot["invites"] == 0
            await send_message(bob_in, "hello alice")
            activity = await next_of(alice_events, "room_activity")
            assert activity["room_id"] == room_id
            assert activity["unread"] == 1
            assert activity["last_message"]["preview"] == "hello alice"
            assert activity["last_message"]["username"] == bob.username
            assert activity["last_id"] == activity["last_message"]["id"]
    # The snapshot after a reconnect has the count the stream had.
    async with stream(dev_server.url, alice) as (_again, snapshot):
        listed = room_in(snapshot, room_id)
        assert listed["unread"] == 1
        assert listed["last_message"]["preview"] == "hello alice"


async def test_my_own_messages_are_not_unread_and_every_tab_gets_the_frames(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with (
        join(dev_server.url, room_id, alice) as alice_in,
        join(dev_server.url, room_id, bob) as bob_in,
        stream(dev_server.url, alice) as (tab_one, _),
        stream(dev_server.url, alice) as (tab_two, _),
    ):
        await until_ready(alice_in)
        await until_ready(bob_in)
        await send_message(alice_in, "mine")
        for tab in (tab_one, tab_two):
            mine = await next_of(tab, "room_activity")
            assert (mine["unread"], mine["last_message"]["preview"]) == (0, "mine")
        await send_message(bob_in, "theirs")
        for tab in (tab_one, tab_two):
            theirs = await next_of(tab, "room_activity")
            assert (theirs["unread"], theirs["last_message"]["preview"]) == (1, "theirs")


async def test_a_burst_is_coalesced_and_ends_with_the_right_count(
    client: httpx.AsyncClient, chat_server: ThreadServer, alice: Account, bob: Account
) -> None:
    """On the chat server without rate limits."""
    room_id = await create_room(client, alice)
    burst = 200
    async with (
        join(chat_server.url, room_id, bob, prefix="") as bob_in,
        stream(chat_server.url, alice, prefix="") as (alice_events, _),
    ):
        await until_ready(bob_in)
        started = asyncio.get_running_loop().time()
        for n in range(burst):
            await send_message(bob_in, f"m{n}")
        frames = []
        while not frames or frames[-1]["unread"] < burst:
            frames.append(await next_of(alice_events, "room_activity"))
        elapsed = asyncio.get_running_loop().time() - started
        assert frames[-1]["last_message"]["preview"] == f"m{burst - 1}"
        # At most one frame per 0.25 s (plus the first, sent at once).
        assert len(frames) <= elapsed / 0.25 + 2, (len(frames), elapsed)
        assert len(frames) < burst / 4


async def test_room_added_and_removed_and_invitations(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    api = Api(client, dev_server.url)
    async with stream(dev_server.url, bob) as (bob_events, _):
        room_id = await api.create(alice, private=True, name="Club")
        assert (await api.invite(alice, room_id, bob.id)).status_code == 200
        invite = await next_of(bob_events, "invite")
        assert invite["invite"]["room_id"] == room_id
        assert invite["invite"]["inviter_username"] == alice.username
        async with stream(dev_server.url, bob) as (_other_tab, snapshot):
            assert snapshot["invites"] == 1
        assert (await api.answer(bob, room_id, accept=True)).status_code == 200
        added = await next_of(bob_events, "room_added")
        assert added["room"]["id"] == room_id
        assert added["room"]["unread"] == 0
        assert (await api.kick(alice, room_id, bob.id)).status_code == 204
        removed = await next_of(bob_events, "room_removed")
        assert removed == {"type": "room_removed", "room_id": room_id, "reason": "kick"}
        dm = await api.dm(alice, bob.id)
        added = await next_of(bob_events, "room_added")
        assert added["room"]["id"] == dm.json()["id"]
        assert added["room"]["name"] == alice.username  # named after the other person
        assert (await api.leave(bob, dm.json()["id"])).status_code == 204
        left = await next_of(bob_events, "room_removed")
        assert left == {"type": "room_removed", "room_id": dm.json()["id"], "reason": "leave"}
    async with stream(dev_server.url, bob) as (_again, snapshot):
        assert room_id not in {room["id"] for room in snapshot["rooms"]}


async def test_joining_a_public_room_adds_it_to_my_other_tabs(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with (
        stream(dev_server.url, bob) as (bob_events, _),
        join(dev_server.url, room_id, bob) as bob_in,
    ):
        await until_ready(bob_in)
        added = await next_of(bob_events, "room_added")
        assert added["room"]["id"] == room_id
        assert added["room"]["role"] == "member"


async def test_followers_posts_and_notifications(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    carol = await register(client, "carol")
    async with (
        stream(dev_server.url, alice) as (alice_events, snapshot),
        stream(dev_server.url, carol) as (carol_events, _),
    ):
        unread_before = snapshot["notifications_unread"]
        await follow(client, bob, alice.id)
        got = {}
        while len(got) < 2:
            frame = await next_of(alice_events, "follower", "notification")
            got[frame["type"]] = frame
        assert got["follower"] == {"type": "follower", "user_id": bob.id, "username": bob.username}
        assert got["notification"]["unread"] == unread_before + 1
        async with stream(dev_server.url, bob) as (bob_events, _):
            written = await write_post(client, alice, "news")
            news = await next_of(bob_events, "post")
            # A like of alice's post tells her streams her new unread count too.
            liked = await client.post(f"{USERS}/posts/{written['id']}/like", headers=bob.headers)
            assert liked.status_code == 200
            frame = await next_of(alice_events, "notification")
            assert frame["unread"] == unread_before + 2
            assert news == {
                "type": "post",
                "post_id": written["id"],
                "author_id": alice.id,
                "author_username": alice.username,
            }
        # carol does not follow alice, and alice is the author: no post frame for them.
        for other in (carol_events, alice_events):
            assert [f for f in await quiet(other, 0.5) if f["type"] == "post"] == []
