from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.events import AccountEvent, control_channel
from shared.models import Base, Message, Room, User
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.servers import ThreadServer
from tests.support.users import PASSWORD, Account, register
from tests.user.actions import USERS, follow, profile, write_post
from user_service.app import create_app


async def rows_of(engine: AsyncEngine, user_id: int) -> dict[str, int]:
    """Rows naming `user_id` in every column that references `users.id`, and the user row."""
    counts: dict[str, int] = {}
    async with engine.connect() as conn:
        counts["users.id"] = (
            await conn.scalar(select(func.count()).select_from(User).where(User.id == user_id)) or 0
        )
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table.name == "users":
                    column = fk.parent
                    counts[f"{table.name}.{column.name}"] = (
                        await conn.scalar(
                            select(func.count()).select_from(table).where(column == user_id)
                        )
                        or 0
                    )
    return counts


async def chat_history(engine: AsyncEngine, *, victim: Account, friend: Account) -> list[str]:
    """Rooms and messages as the ws service would write them: one room each, both talking
    in both rooms. Returns the room ids (the victim's first)."""
    rooms = [f"room-{secrets.token_hex(4)}", f"room-{secrets.token_hex(4)}"]
    async with engine.begin() as conn:
        await conn.execute(
            insert(Room),
            [
                {"id": rooms[0], "name": "victim's", "created_by": victim.id, "last_seq": 2},
                {"id": rooms[1], "name": "friend's", "created_by": friend.id, "last_seq": 2},
            ],
        )
        await conn.execute(
            insert(Message),
            [
                {"room_id": room, "seq": seq, "user_id": author.id, "content": "hi"}
                for room in rooms
                for seq, author in ((1, victim), (2, friend))
            ],
        )
    return rooms


async def test_delete_erases_every_row_of_the_user_and_keeps_their_rooms(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    victim, friend, fan = [await register(client, name) for name in ("victim", "friend", "fan")]
    await follow(client, victim, friend.id)
    await follow(client, fan, victim.id)
    for i in range(3):
        await write_post(client, victim, f"victim's post {i}")
    kept_post = await write_post(client, friend, "friend's post")
    victims_room, friends_room = await chat_history(db_engine, victim=victim, friend=friend)
    before = await rows_of(db_engine, victim.id)
    for column in ("users.id", "sessions.user_id", "posts.author_id", "messages.user_id"):
        assert before[column] > 0, column
    assert before["user_followers.follower_id"] == before["user_followers.following_id"] == 1
    assert before["rooms.created_by"] == 1

    response = await client.delete(f"{USERS}/delete", headers=victim.headers)
    assert response.status_code == 204
    assert response.content == b""

    assert set((await rows_of(db_engine, victim.id)).values()) == {0}
    async with db_engine.connect() as conn:
        rooms = dict((await conn.execute(select(Room.id, Room.created_by))).all())
        left = (
            await conn.execute(
                select(
                    Message.room_id, Message.seq, Message.user_id, Message.content, Message.deleted
                ).where(Message.room_id.in_([victims_room, friends_room]))
            )
        ).all()
    assert rooms[victims_room] is None  # the room stays, without a creator
    assert rooms[friends_room] == friend.id
    # Their messages stay as tombstones without author or content: no hole in the sequence.
    assert sorted(left) == sorted(
        [
            *((room, 1, None, "", True) for room in (victims_room, friends_room)),
            *((room, 2, friend.id, "hi", False) for room in (victims_room, friends_room)),
        ]
    )
    # Everyone else sees the account gone.
    assert (await profile(client, fan, friend.id))["followers"] == 0
    assert (await profile(client, fan, fan.id))["following"] == 0
    gone = await client.get(f"{USERS}/users/{victim.id}", headers=fan.headers)
    assert gone.status_code == 404
    still = await client.get(f"{USERS}/posts/{kept_post['id']}", headers=fan.headers)
    assert still.status_code == 200


async def test_deleted_users_tokens_are_refused_everywhere(client: httpx.AsyncClient) -> None:
    victim = await register(client, "victim")
    second = await client.post("/auth/login", json={"email": victim.email, "password": PASSWORD})
    other_token = {"Authorization": f"Bearer {second.json()['access_token']}"}
    assert (await client.delete(f"{USERS}/delete", headers=victim.headers)).status_code == 204
    for headers in (victim.headers, other_token):
        assert (await client.get("/auth/me", headers=headers)).status_code == 401
        assert (await client.get(f"{USERS}/feed", headers=headers)).status_code == 401
        assert (await client.post("/auth/logout", headers=headers)).status_code == 401
        again = await client.delete(f"{USERS}/delete", headers=headers)
        assert again.status_code == 401
    # The name and address are free again.
    reused = await client.post(
        "/auth/register",
        json={"username": victim.username, "email": victim.email, "password": PASSWORD},
    )
    assert reused.status_code == 201
    # Even where the embedded SQLite database hands the same id out again, the old tokens
    # name sessions that no longer exist.
    new_token = {"Authorization": f"Bearer {reused.json()['access_token']}"}
    assert (await client.get("/auth/me", headers=new_token)).status_code == 200
    assert (await client.get("/auth/me", headers=victim.headers)).status_code == 401


async def test_delete_erases_only_the_token_holder(client: httpx.AsyncClient) -> None:
    victim, bystander = await register(client), await register(client)
    response = await client.delete(
        f"{USERS}/delete",
        params={"id": bystander.id, "userId": bystander.id},
        headers=victim.headers,
    )
    assert response.status_code == 204
    assert (await client.get("/auth/me", headers=bystander.headers)).status_code == 200
    assert (await client.get("/auth/me", headers=victim.headers)).status_code == 401


async def test_concurrent_deletes_of_one_account_succeed_once(client: httpx.AsyncClient) -> None:
    victim = await register(client)
    responses = await asyncio.gather(
        *(client.delete(f"{USERS}/delete", headers=victim.headers) for _ in range(5))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(204) == 1
    assert set(codes) <= {204, 401}


@pytest.fixture
def user_service_on_redis(
    settings: Settings, data_dir: Path, redis_url: str
) -> Iterator[tuple[ThreadServer, Settings]]:
    """The user service on its own, publishing its events through Redis as in production."""
    on_redis = make_settings(settings.database_url, data_dir, redis_url=redis_url)
    server = ThreadServer(create_app(on_redis), on_redis).start()
    yield server, on_redis
    server.stop()


async def test_delete_announces_user_deleted_on_the_broker_after_commit(
    client: httpx.AsyncClient,
    redis_url: str,
    user_service_on_redis: tuple[ThreadServer, Settings],
) -> None:
    """The hook the ws service listens on to close the user's sockets with 4401."""
    server, on_redis = user_service_on_redis
    victim = await register(client, "victim")
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(control_channel(on_redis.redis_namespace))
    try:
        async with httpx.AsyncClient(base_url=server.url) as alone:
            assert (await alone.delete("/delete", headers=victim.headers)).status_code == 204
        message = None
        for _ in range(50):  # up to ~5 s
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                break
        assert message is not None, "no event was published"
        event = AccountEvent.decode(message["data"])
        assert event == AccountEvent(kind="user_deleted", user_id=victim.id)
        # Published after the commit: whoever reacts to it sees the account gone.
        assert (await client.get("/auth/me", headers=victim.headers)).status_code == 401
    finally:
        await pubsub.aclose()
        await redis.aclose()


async def test_ids_of_deleted_users_and_posts_are_never_handed_out_again(
    client: httpx.AsyncClient,
) -> None:
    """A stale link or a late event must never point at someone else's account or post."""
    author = await register(client, "reuse")
    post = await client.post("/users/posts", json={"content": "soon gone"}, headers=author.headers)
    assert post.status_code == 201
    post_id = post.json()["id"]
    assert (
        await client.delete(f"/users/posts/{post_id}", headers=author.headers)
    ).status_code == 204
    again = await client.post("/users/posts", json={"content": "next"}, headers=author.headers)
    assert again.json()["id"] > post_id
    assert (await client.delete("/users/delete", headers=author.headers)).status_code == 204
    successor = await register(client, "reuse")
    assert successor.id > author.id
