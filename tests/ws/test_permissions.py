"""The permission matrix: every action on a room by its owner, a moderator, a member, a
non-member and a banned user (and across a block), each with its expected status. Every
cell gets a fresh room, so no action depends on another's outcome."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.ws.conversations import Api

ACTORS = ("owner", "moderator", "member", "outsider", "banned")


@dataclass
class Cast:
    owner: Account
    moderator: Account
    member: Account
    outsider: Account
    banned: Account
    victim: Account  # a plain member the actions aim at
    newcomer: Account  # someone to invite

    def actor(self, name: str) -> Account:
        found: Account = getattr(self, name)
        return found


@pytest.fixture
async def cast(client: httpx.AsyncClient) -> Cast:
    names = ("owner", "moderator", "member", "outsider", "banned", "victim", "newcomer")
    return Cast(*[await register(client, name[:5]) for name in names])


@pytest.fixture
def api(client: httpx.AsyncClient, dev_server: ThreadServer) -> Api:
    return Api(client, dev_server.url)


async def furnished_room(api: Api, cast: Cast, *, private: bool) -> str:
    """owner, moderator, member, victim in; banned out; outsider and newcomer never in."""
    room_id = await api.create(cast.owner, private=private)
    people = (cast.moderator, cast.member, cast.victim, cast.banned)
    if private:
        await api.add(cast.owner, room_id, *people)
    else:
        for person in people:
            assert await api.join_status(person, room_id) == 101
    assert (await api.set_role(cast.owner, room_id, cast.moderator.id, "moderator")).is_success
    assert (await api.ban(cast.owner, room_id, cast.banned.id)).is_success
    return room_id


Action = Callable[[Api, Account, str, Cast], Awaitable[int]]


async def _status(response: Awaitable[httpx.Response]) -> int:
    return (await response).status_code


ACTIONS: dict[str, Action] = {
    "see the room": lambda api, who, room, cast: _status(api.room(who, room)),
    "list members": lambda api, who, room, cast: _status(api.members(who, room)),
    "list who is online": lambda api, who, room, cast: _status(api.clients(who, room)),
    "join": lambda api, who, room, cast: api.join_status(who, room),
    "invite": lambda api, who, room, cast: _status(api.invite(who, room, cast.newcomer.id)),
    "promote": lambda api, who, room, cast: _status(
        api.set_role(who, room, cast.victim.id, "moderator")
    ),
    "kick": lambda api, who, room, cast: _status(api.kick(who, room, cast.victim.id)),
    "ban": lambda api, who, room, cast: _status(api.ban(who, room, cast.victim.id)),
    "unban": lambda api, who, room, cast: _status(api.unban(who, room, cast.banned.id)),
    "list bans": lambda api, who, room, cast: _status(api.bans(who, room)),
    "leave": lambda api, who, room, cast: _status(api.leave(who, room)),
}

# Actions after which the next actor finds the room as furnished (joining only ever adds the
# joiner), so one room serves every actor.
LEAVES_THE_ROOM_AS_IT_WAS = {
    "see the room",
    "list members",
    "list who is online",
    "list bans",
    "join",
}

#                         owner moderator member outsider banned
PRIVATE: dict[str, tuple[int, ...]] = {
    "see the room":        (200, 200, 200, 404, 404),
    "list members":        (200, 200, 200, 404, 404),
    "list who is online":  (200, 200, 200, 404, 404),
    "join":                (101, 101, 101, 404, 404),
    "invite":              (200, 200, 403, 404, 404),
    "promote":             (200, 403, 403, 404, 404),
    "kick":                (204, 204, 403, 404, 404),
    "ban":                 (200, 200, 403, 404, 404),
    "unban":               (204, 204, 403, 404, 404),
    "list bans":           (200, 200, 403, 404, 404),
    "leave":               (204, 204, 204, 404, 404),
}  # fmt: skip
PUBLIC: dict[str, tuple[int, ...]] = {
    "see the room":        (200, 200, 200, 200, 200),
    "list members":        (200, 200, 200, 200, 200),
    "list who is online":  (200, 200, 200, 200, 200),
    "join":                (101, 101, 101, 101, 403),
    "invite":              (400, 400, 403, 403, 403),
    "promote":             (200, 403, 403, 403, 403),
    "kick":                (204, 204, 403, 403, 403),
    "ban":                 (200, 200, 403, 403, 403),
    "unban":               (204, 204, 403, 403, 403),
    "list bans":           (200, 200, 403, 403, 403),
    "leave":               (204, 204, 204, 204, 204),
}  # fmt: skip


@pytest.mark.parametrize("private", [True, False], ids=["private", "public"])
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_permission_matrix(api: Api, cast: Cast, action: str, private: bool) -> None:
    expected = (PRIVATE if private else PUBLIC)[action]
    got = []
    room_id = None
    for actor in ACTORS:
        if room_id is None or action not in LEAVES_THE_ROOM_AS_IT_WAS:
            room_id = await furnished_room(api, cast, private=private)
        got.append(await ACTIONS[action](api, cast.actor(actor), room_id, cast))
    assert dict(zip(ACTORS, got, strict=True)) == dict(zip(ACTORS, expected, strict=True))


async def test_across_a_block_dms_and_invitations_are_403_both_ways(api: Api, cast: Cast) -> None:
    await api.block(cast.newcomer, cast.owner.id)
    room_id = await furnished_room(api, cast, private=True)
    assert (await api.invite(cast.owner, room_id, cast.newcomer.id)).status_code == 403
    assert (await api.dm(cast.owner, cast.newcomer.id)).status_code == 403
    assert (await api.dm(cast.newcomer, cast.owner.id)).status_code == 403
    # a block between two others changes nothing for a moderator's invitation
    assert (await api.invite(cast.moderator, room_id, cast.newcomer.id)).status_code == 200


async def test_in_a_dm_nobody_moderates(api: Api, cast: Cast) -> None:
    room_id = (await api.dm(cast.owner, cast.member.id)).json()["id"]
    assert (await api.kick(cast.owner, room_id, cast.member.id)).status_code == 403
    assert (await api.ban(cast.owner, room_id, cast.member.id)).status_code == 403
    assert (await api.invite(cast.owner, room_id, cast.outsider.id)).status_code == 403
    assert (await api.set_role(cast.owner, room_id, cast.member.id, "moderator")).status_code == 403
    assert (await api.room(cast.outsider, room_id)).status_code == 404
    assert await api.join_status(cast.outsider, room_id) == 404
    assert await api.join_status(cast.member, room_id) == 101
