"""`/ws/joinRoom/{roomId}` refuses before the upgrade, with an HTTP status the client reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.ws.chat_client import create_room, join, until_ready
from tests.ws.conversations import Api
from ws_service.app import create_app as create_ws_app


async def refused_with(
    base_url: str, room_id: str, account: Account | None, **options: object
) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refused:
        async with join(base_url, room_id, account, **options):  # type: ignore[arg-type]
            pass
    return refused.value


async def test_no_token_is_401(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account
) -> None:
    room_id = await create_room(client, alice)
    refusal = await refused_with(dev_server.url, room_id, None)
    assert refusal.response.status_code == 401
    assert b"not authenticated" in refusal.response.body


@pytest.mark.parametrize(
    "authorization", ["Bearer not.a.token", "Bearer", "Basic YWxpY2U6cHc=", "Bearer " + "x" * 500]
)
async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, authorization: str
) -> None:
    room_id = await create_room(client, alice)
    refusal = await refused_with(
        dev_server.url, room_id, None, headers={"Authorization": authorization}
    )
    assert refusal.response.status_code == 401


async def test_a_token_in_the_url_is_not_accepted(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account
) -> None:
    room_id = await create_room(client, alice)
    for query in (f"token={alice.token}", f"access_token={alice.token}"):
        refusal = await refused_with(dev_server.url, f"{room_id}?{query}", None)
        assert refusal.response.status_code == 401


async def test_a_logged_out_token_is_401(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, bob)
    assert (await client.post("/auth/logout", headers=alice.headers)).status_code == 202
    refusal = await refused_with(dev_server.url, room_id, alice)
    assert refusal.response.status_code == 401


async def test_an_unknown_room_is_404_but_only_once_authenticated(
    dev_server: ThreadServer, alice: Account
) -> None:
    refusal = await refused_with(dev_server.url, "no-such-room", alice)
    assert refusal.response.status_code == 404
    assert refusal.response.body == b'{"detail":"room not found"}'
    assert (await refused_with(dev_server.url, "no-such-room", None)).response.status_code == 401


async def test_a_foreign_origin_is_403_even_with_a_valid_cookie(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account
) -> None:
    """Cross-site websocket hijacking: the browser sends the cookie and its own Origin."""
    room_id = await create_room(client, alice)
    cookie = {"Cookie": f"auth_token={alice.token}"}
    for origin in ("https://evil.example", "null", "http://127.0.0.1:8000.evil.example"):
        refusal = await refused_with(dev_server.url, room_id, None, headers=cookie, origin=origin)
        assert refusal.response.status_code == 403
    async with join(
        dev_server.url, room_id, None, headers=cookie, origin="http://localhost:8000"
    ) as ws:
        _history, ready = await until_ready(ws)
        assert ready["room_id"] == room_id


async def test_a_bad_resume_point_is_422(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account
) -> None:
    room_id = await create_room(client, alice)
    for after in ("-1", "x", "1.5", "99999999999999999999"):
        refusal = await refused_with(dev_server.url, f"{room_id}?after={after}", alice)
        assert refusal.response.status_code == 422


async def test_refusals_keep_their_status_on_the_plain_asgi_protocol(
    client: httpx.AsyncClient, plain_asgi_server: ThreadServer, alice: Account
) -> None:
    room_id = await create_room(client, alice)
    url = plain_asgi_server.url
    assert (await refused_with(url, room_id, None, prefix="")).response.status_code == 401
    assert (await refused_with(url, "nope", alice, prefix="")).response.status_code == 404
    refusal = await refused_with(url, room_id, alice, prefix="", origin="https://evil.example")
    assert refusal.response.status_code == 403


@pytest.fixture
def capped_server(settings: Settings, data_dir: Path) -> Iterator[ThreadServer]:
    """A chat service with small caps: 2 sockets a user, 3 an address, bursts of 5
    handshakes."""
    capped = make_settings(
        settings.database_url,
        data_dir,
        ws_max_connections_per_user=2,
        ws_max_connections_per_address=3,
        ws_handshake_rate_per_second=0.01,
        ws_handshake_burst=5,
    )
    server = ThreadServer(create_ws_app(capped), capped).start()
    yield server
    server.stop()


async def test_sockets_per_user_and_address_are_capped_before_the_upgrade(
    client: httpx.AsyncClient, capped_server: ThreadServer, alice: Account, bob: Account
) -> None:
    room_id = await create_room(client, alice)
    async with (
        join(capped_server.url, room_id, alice, prefix="") as one,
        join(capped_server.url, room_id, alice, prefix=""),
    ):
        await until_ready(one)
        refusal = await refused_with(capped_server.url, room_id, alice, prefix="")
        assert refusal.response.status_code == 429
        assert b"for this user" in refusal.response.body
        assert int(refusal.response.headers["retry-after"]) >= 1
        async with join(capped_server.url, room_id, bob, prefix=""):
            refusal = await refused_with(capped_server.url, room_id, bob, prefix="")
            assert b"from this address" in refusal.response.body
    # Closed sockets give their places back; but the sixth handshake is over the burst of 5.
    refusal = await refused_with(capped_server.url, room_id, alice, prefix="")
    assert refusal.response.status_code == 429
    assert b"connection attempts" in refusal.response.body


async def test_concurrent_handshakes_each_get_their_own_answer(
    client: httpx.AsyncClient, dev_server: ThreadServer, alice: Account, bob: Account
) -> None:
    """Handshakes that arrive together are admitted in one batch, each with its own answer:
    members and first joiners in, a logged-out token 401, a ban 403, a private room and an
    unknown room 404; the first joiners are members afterwards."""
    api = Api(client, dev_server.url)
    public = await api.create(alice, private=False)
    private = await api.create(alice, private=True)
    banned, gone = await register(client, "banned"), await register(client, "gone")
    assert (await api.ban(alice, public, banned.id)).status_code in (200, 204)
    assert (await client.post("/auth/logout", headers=gone.headers)).status_code == 202
    newcomers = [await register(client, "new") for _ in range(6)]

    async def answer(room_id: str, account: Account) -> int:
        try:
            async with join(dev_server.url, room_id, account) as ws:
                await until_ready(ws)
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    cases = [
        *((public, alice, 101) for _ in range(3)),
        *((public, newcomer, 101) for newcomer in newcomers),
        *((public, gone, 401) for _ in range(2)),
        *((public, banned, 403) for _ in range(2)),
        *((private, bob, 404) for _ in range(2)),
        ("no-such-room", bob, 404),
    ]
    answers = await asyncio.gather(*(answer(room, who) for room, who, _ in cases))
    assert answers == [expected for _, _, expected in cases]
    members = await api.members(alice, public, limit=100)
    assert members.status_code == 200, members.text
    ids = {member["user_id"] for member in members.json()["items"]}
    assert {newcomer.id for newcomer in newcomers} <= ids
    assert banned.id not in ids and gone.id not in ids
