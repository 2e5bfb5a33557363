"""`/ws/joinRoom/{roomId}` refuses before the upgrade, with an HTTP status the client reads."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from tests.support.servers import ThreadServer
from tests.support.users import Account
from tests.ws.chat_client import create_room, join, until_ready


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
