"""Read markers, unread counts and the list of my rooms by activity (issue 13), through a
real chat server on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.database import unit_of_work
from shared.models import Message, Room, RoomMember
from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.ws.chat_client import (
    create_room,
    join,
    messages,
    next_of,
    next_page,
    send_message,
    until_ready,
)
from ws_service.presence.in_memory import MemoryPresence
from ws_service.rooms.service import my_rooms_among
from ws_service.rooms.unread import UNREAD_MANY

PREFIX = ""  # the standalone chat server serves /ws/... at its root


async def post_read(
    http: httpx.AsyncClient, account: Account, room_id: str, up_to: int
) -> httpx.Response:
    return await http.post(f"/ws/rooms/{room_id}/read?upTo={up_to}", headers=account.headers)


async def my_rooms(
    http: httpx.AsyncClient, account: Account, **params: Any
) -> list[dict[str, Any]]:
    """Every page of `getRooms?mine=true`, following the `Link` header."""
    listed: list[dict[str, Any]] = []
    url: str | None = "/ws/getRooms"
    query: dict[str, Any] | None = {"mine": "true", **params}
    while url is not None:
        response = await http.get(url, params=query, headers=account.headers)
        assert response.status_code == 200, response.text
        listed.extend(response.json())
        url, query = next_page(response), None
    return listed


async def say(server: ThreadServer, room_id: str, account: Account, *contents: str) -> int:
    """Posts `contents` in order over a socket; the last one's seq once stored."""
    async with join(server.url, room_id, account, prefix=PREFIX) as ws:
        await until_ready(ws)
        for content in contents:
            await send_message(ws, content)
        received = await messages(ws, len(contents))
    return int(received[-1]["id"])


async def join_room(server: ThreadServer, room_id: str, account: Account) -> None:
    async with join(server.url, room_id, account, prefix=PREFIX) as ws:
        await until_ready(ws)


async def delete_as_the_store_does(
    sessionmaker: async_sessionmaker[AsyncSession], *, room_id: str, target: int, by: int
) -> None:
    """A deletion as issue 13's contract stores it: an event taking the room's next seq
    (counted in no message count), the target turned into a tombstone. (Until the delete
    frame lands on this branch, the test writes what the store writes.)"""
    async with unit_of_work(sessionmaker) as db:
        room = (
            await db.execute(
                update(Room)
                .where(Room.id == room_id)
                .values(last_seq=Room.last_seq + 1)
                .returning(Room.last_seq, Room.message_count)
            )
        ).one()
        db.add(
            Message(
                room_id=room_id,
                seq=room.last_seq,
                user_id=by,
                content="",
                kind="delete",
                target_seq=target,
                number=room.message_count,
            )
        )
        await db.execute(
            update(Message)
            .where(Message.room_id == room_id, Message.seq == target)
            .values(deleted=True, content="")
        )


async def direct_unread(
    sessionmaker: async_sessionmaker[AsyncSession], *, room_id: str, user_id: int
) -> int:
    """The definition, counted row by row: messages after my marker not sent by me."""
    async with unit_of_work(sessionmaker) as db:
        read_seq = await db.scalar(
            select(RoomMember.read_seq).where(
                RoomMember.room_id == room_id, RoomMember.user_id == user_id
            )
        )
        count = await db.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.room_id == room_id,
                Message.kind == "message",
                Message.seq > read_seq,
                (Message.user_id != user_id) | Message.user_id.is_(None),
            )
        )
    return min(int(count or 0), UNREAD_MANY)


async def test_unread_counts_equal_a_direct_count_after_random_activity(
    chat_server: ThreadServer,
    chat_http: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Several people send, move their markers (also backwards: refused), and delete
    messages, in random order; after every step each one's `unread` in `getRooms?mine`
    and in `rooms/{id}` equals the direct count."""
    rng = random.Random(13)
    people = [await register(client, f"u{n}") for n in range(4)]
    rooms = [await create_room(chat_http, people[0], prefix=PREFIX) for _ in range(2)]
    for room_id in rooms:
        for person in people[1:]:
            await join_room(chat_server, room_id, person)
    last_seq = dict.fromkeys(rooms, 0)
    for step in range(30):
        room_id = rng.choice(rooms)
        person = rng.choice(people)
        action = rng.random()
        if action < 0.5:
            count = rng.randint(1, 4)
            last_seq[room_id] = await say(
                chat_server, room_id, person, *(f"{step}.{n}" for n in range(count))
            )
        elif action < 0.85:
            up_to = rng.randint(0, last_seq[room_id] + 3)  # past the end too
            response = await post_read(chat_http, person, room_id, up_to)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["read_seq"] >= min(up_to, last_seq[room_id])
            assert body["read_seq"] <= last_seq[room_id]
            assert body["unread"] == await direct_unread(
                sessionmaker, room_id=room_id, user_id=person.id
            )
        elif last_seq[room_id]:
            target = rng.randint(1, last_seq[room_id])
            async with unit_of_work(sessionmaker) as db:
                kind = await db.scalar(
                    select(Message.kind).where(Message.room_id == room_id, Message.seq == target)
                )
            if kind == "message":
                await delete_as_the_store_does(
                    sessionmaker, room_id=room_id, target=target, by=person.id
                )
                last_seq[room_id] += 1
        for someone in people:
            listed = {room["id"]: room for room in await my_rooms(chat_http, someone)}
            for room_id in rooms:
                expected = await direct_unread(sessionmaker, room_id=room_id, user_id=someone.id)
                assert listed[room_id]["unread"] == expected, (step, someone.username, room_id)
                detail = (
                    await chat_http.get(f"/ws/rooms/{room_id}", headers=someone.headers)
                ).json()
                assert detail["unread"] == expected
                assert detail["read_seq"] == listed[room_id]["read_seq"]


async def test_the_marker_only_moves_forward_and_stops_at_the_last_message(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix=PREFIX)
    await join_room(chat_server, room_id, bob)
    last = await say(chat_server, room_id, alice, "one", "two", "three", "four")
    assert (await post_read(chat_http, bob, room_id, 2)).json() == {
        "room_id": room_id,
        "read_seq": 2,
        "unread": 2,
    }
    assert (await post_read(chat_http, bob, room_id, 1)).json()["read_seq"] == 2  # not back
    ahead = (await post_read(chat_http, bob, room_id, 10**12)).json()
    assert ahead == {"room_id": room_id, "read_seq": last, "unread": 0}
    # Alice's own messages were never unread to her.
    assert (await post_read(chat_http, alice, room_id, 0)).json()["unread"] == 0


async def test_read_is_for_members_only(
    chat_http: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    public = await create_room(chat_http, alice, prefix=PREFIX)
    hidden = (
        await chat_http.post(
            "/ws/createRoom", json={"name": "p", "private": True}, headers=alice.headers
        )
    ).json()["id"]
    outsider = await post_read(chat_http, bob, public, 1)
    assert outsider.status_code == 404
    assert outsider.json() == {"detail": "you are not a member of this room"}
    assert (await post_read(chat_http, bob, hidden, 1)).json() == {"detail": "room not found"}
    assert (await post_read(chat_http, bob, "nosuchroom", 1)).status_code == 404
    for bad in ("-1", "x", "1.5", str(2**63)):
        response = await chat_http.post(
            f"/ws/rooms/{public}/read?upTo={bad}", headers=alice.headers
        )
        assert response.status_code == 422, bad
    assert (
        await chat_http.post(f"/ws/rooms/{public}/read", headers=alice.headers)
    ).status_code == 422
    # A public room's non-member sees its last message but no reading state.
    detail = (await chat_http.get(f"/ws/rooms/{public}", headers=bob.headers)).json()
    assert detail["member"] is False and detail["unread"] is None and detail["read_seq"] is None


async def test_a_new_member_starts_with_nothing_unread(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix=PREFIX)
    last = await say(chat_server, room_id, alice, "before bob")
    await join_room(chat_server, room_id, bob)
    (room,) = [r for r in await my_rooms(chat_http, bob) if r["id"] == room_id]
    assert room["unread"] == 0 and room["read_seq"] == last


async def test_my_rooms_come_newest_activity_first_with_their_last_message(
    chat_server: ThreadServer,
    chat_http: httpx.AsyncClient,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    quiet = await create_room(chat_http, alice, prefix=PREFIX, name="quiet")
    first = await create_room(chat_http, alice, prefix=PREFIX, name="first")
    second = await create_room(chat_http, alice, prefix=PREFIX, name="second")
    newest_empty = await create_room(chat_http, alice, prefix=PREFIX, name="empty")
    for room_id in (quiet, first, second):
        await join_room(chat_server, room_id, bob)
    await say(chat_server, second, bob, "older")
    await say(chat_server, first, bob, "line one\nline two   and  " + "x" * 200)
    listed = await my_rooms(chat_http, alice)
    # The empty room was made before the others' messages.
    assert [room["id"] for room in listed] == [first, second, newest_empty, quiet]
    top = listed[0]
    assert top["unread"] == 1 and top["read_seq"] == 0
    last = top["last_message"]
    assert last["user_id"] == bob.id and last["username"] == bob.username
    assert last["preview"].startswith("line one line two and xxx")
    assert len(last["preview"]) == 100 and not last["deleted"]
    assert listed[2]["last_message"] is None and listed[2]["unread"] == 0
    # Activity moves a room to the top; a deleted last message stays, as a tombstone.
    seq = await say(chat_server, quiet, bob, "wake up")
    await delete_as_the_store_does(sessionmaker, room_id=quiet, target=seq, by=bob.id)
    listed = await my_rooms(chat_http, alice)
    assert [room["id"] for room in listed] == [quiet, first, second, newest_empty]
    assert listed[0]["last_message"]["deleted"] is True
    assert listed[0]["last_message"]["preview"] == ""
    assert listed[0]["unread"] == 1  # a tombstone still counts
    # One room per page walks the same list.
    paged = await my_rooms(chat_http, alice, limit=1)
    assert [room["id"] for room in paged] == [room["id"] for room in listed]


async def test_paging_never_repeats_a_room_that_becomes_active_mid_walk(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, alice: Account
) -> None:
    rooms = [await create_room(chat_http, alice, prefix=PREFIX) for _ in range(4)]
    first = await chat_http.get(
        "/ws/getRooms", params={"mine": "true", "limit": 2}, headers=alice.headers
    )
    seen = [room["id"] for room in first.json()]
    await say(chat_server, seen[0], alice, "bump")  # the first page's top room moves again
    rest = await chat_http.get(next_page(first) or "", headers=alice.headers)
    seen += [room["id"] for room in rest.json()]
    assert len(seen) == len(set(seen)) and set(rooms) <= set(seen)


@pytest.mark.parametrize("cursor", ["nope", "WyJ4Il0", "WyJub3QgYSB0aW1lIiwgInIiXQ"])
async def test_a_bad_cursor_is_422(
    chat_http: httpx.AsyncClient, alice: Account, cursor: str
) -> None:
    response = await chat_http.get(
        "/ws/getRooms", params={"mine": "true", "cursor": cursor}, headers=alice.headers
    )
    assert response.status_code == 422


async def test_read_frames_move_the_marker_and_a_bad_one_is_refused(
    chat_server: ThreadServer,
    chat_http: httpx.AsyncClient,
    alice: Account,
    bob: Account,
) -> None:
    """A burst of reports ends with the marker at the highest (how few writes it costs is
    measured in test_unread_instances); a bad frame is refused and the socket stays open."""
    room_id = await create_room(chat_http, alice, prefix=PREFIX)
    last = await say(chat_server, room_id, alice, *(str(n) for n in range(20)))
    async with join(chat_server.url, room_id, bob, prefix=PREFIX) as ws:
        await until_ready(ws)
        for up_to in range(1, last + 1):
            await ws.send(f'{{"type": "read", "up_to": {up_to}}}')
        for bad in ('{"type": "read", "up_to": "7"}', '{"type": "read", "up_to": true}'):
            await ws.send(bad)
            assert (await next_of(ws, "error"))["code"] == "bad_frame"
        assert await marker_of(chat_http, bob, room_id, until=last) == last


async def marker_of(http: httpx.AsyncClient, account: Account, room_id: str, *, until: int) -> int:
    """The account's marker in the room, once it is `until` (or after 5 s)."""
    for _ in range(50):
        (room,) = [r for r in await my_rooms(http, account) if r["id"] == room_id]
        if room["read_seq"] == until:
            break
        await asyncio.sleep(0.1)
    return int(room["read_seq"])


async def test_a_marker_reported_just_before_closing_is_kept(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix=PREFIX)
    last = await say(chat_server, room_id, alice, "a", "b", "c")
    async with join(chat_server.url, room_id, bob, prefix=PREFIX) as ws:
        await until_ready(ws)
        await ws.send('{"type": "read", "up_to": 1}')
        await asyncio.sleep(0.3)  # written; the next report waits out the interval
        await ws.send(f'{{"type": "read", "up_to": {last}}}')
    assert await marker_of(chat_http, bob, room_id, until=last) == last


async def test_unread_is_exact_to_999_and_1000_means_more(
    chat_server: ThreadServer, chat_http: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    room_id = await create_room(chat_http, alice, prefix=PREFIX)
    await join_room(chat_server, room_id, bob)
    last = await say(chat_server, room_id, alice, *(f"m{n}" for n in range(1001)))
    (room,) = [r for r in await my_rooms(chat_http, bob) if r["id"] == room_id]
    assert room["unread"] == UNREAD_MANY == 1000  # 1,001: "999+"
    assert (await post_read(chat_http, bob, room_id, 1)).json()["unread"] == 1000  # exactly
    assert (await post_read(chat_http, bob, room_id, 2)).json()["unread"] == 999
    assert (await post_read(chat_http, bob, room_id, last)).json()["unread"] == 0


async def test_the_items_of_some_rooms_are_those_of_the_list(
    chat_server: ThreadServer,
    chat_http: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """`my_rooms_among` (what a live stream sends for a room added or changed) answers
    exactly what the list says of those rooms, and nothing for a room one is not in."""
    mine = [await create_room(chat_http, alice, prefix=PREFIX) for _ in range(3)]
    others = await create_room(chat_http, bob, prefix=PREFIX)
    for room_id in mine[:2]:
        await join_room(chat_server, room_id, bob)
        await say(chat_server, room_id, bob, "hello\nthere")
    listed = {room["id"]: room for room in await my_rooms(chat_http, alice)}

    async def no_announcement(_change: object) -> None:
        return None

    async with unit_of_work(sessionmaker) as db:
        items = await my_rooms_among(
            db,
            MemoryPresence(no_announcement),
            user_id=alice.id,
            room_ids=[mine[2], mine[0], others],
        )
    assert [item.model_dump(mode="json") for item in items] == [listed[mine[0]], listed[mine[2]]]
