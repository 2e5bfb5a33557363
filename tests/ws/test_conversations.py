"""Direct conversations, private rooms, invitations, members, roles, kicks, bans and
leaving, through the all-in-one server."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.servers import ThreadServer
from tests.support.users import Account, register
from tests.ws.conversations import CHAT, Api

MISSING_USER = 2**63 - 1


@pytest.fixture
def api(client: httpx.AsyncClient, dev_server: ThreadServer) -> Api:
    return Api(client, dev_server.url)


async def test_a_dm_is_one_room_named_after_the_other_person(
    api: Api, alice: Account, bob: Account
) -> None:
    first = await api.dm(alice, bob.id)
    assert first.status_code == 200, first.text
    room = first.json()
    assert room["kind"] == "direct" and room["name"] == bob.username
    assert room["peer_id"] == bob.id
    again = (await api.dm(bob, alice.id)).json()
    assert again["id"] == room["id"] and again["name"] == alice.username
    mine = await api.rooms(alice, mine="true")
    assert [(r["id"], r["name"], r["role"]) for r in mine] == [(room["id"], bob.username, "member")]
    assert room["id"] not in [r["id"] for r in await api.rooms(alice)]  # not in the directory


async def test_concurrent_dms_from_both_people_make_one_room(
    api: Api, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        alice, bob = await register(client, "alice"), await register(client, "bob")
        answers = await asyncio.gather(
            *(api.dm(*pair) for _ in range(4) for pair in ((alice, bob.id), (bob, alice.id)))
        )
        assert {answer.status_code for answer in answers} == {200}
        assert len({answer.json()["id"] for answer in answers}) == 1


async def test_a_dm_to_yourself_is_400_to_nobody_404_across_a_block_403(
    api: Api, alice: Account, bob: Account
) -> None:
    assert (await api.dm(alice, alice.id)).status_code == 400
    assert (await api.dm(alice, MISSING_USER)).status_code == 404
    refused = await api.http.post(f"{CHAT}/dm", params={"userId": 0}, headers=alice.headers)
    assert refused.status_code == 422
    await api.block(bob, alice.id)
    for who, other in ((alice, bob), (bob, alice)):
        assert (await api.dm(who, other.id)).status_code == 403


async def test_a_private_room_exists_only_for_its_members(
    api: Api, alice: Account, bob: Account
) -> None:
    room_id = await api.create(alice, private=True, name="Secret")
    unknown = "no-such-room-" + room_id
    for path in ("rooms/{}", "rooms/{}/members", "getClients/{}"):
        hidden = await api.http.get(f"{CHAT}/{path.format(room_id)}", headers=bob.headers)
        missing = await api.http.get(f"{CHAT}/{path.format(unknown)}", headers=bob.headers)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == missing.json() == {"detail": "room not found"}
    for post in ("rooms/{}/leave", "rooms/{}/invites?userId=1", "rooms/{}/bans/1"):
        hidden = await api.http.post(f"{CHAT}/{post.format(room_id)}", headers=bob.headers)
        missing = await api.http.post(f"{CHAT}/{post.format(unknown)}", headers=bob.headers)
        assert (hidden.status_code, hidden.json()) == (missing.status_code, missing.json())
        assert hidden.status_code == 404
    assert await api.join_status(bob, room_id) == await api.join_status(bob, unknown) == 404
    assert room_id not in [r["id"] for r in await api.rooms(bob)]
    assert room_id not in [r["id"] for r in await api.rooms(bob, mine="true")]
    mine = {r["id"]: r for r in await api.rooms(alice, mine="true")}
    assert mine[room_id]["kind"] == "private" and mine[room_id]["role"] == "owner"
    detail = (await api.room(alice, room_id)).json()
    assert detail["members"] == 1 and detail["role"] == "owner" and detail["name"] == "Secret"


async def test_an_invitation_accepted_makes_a_member(
    api: Api, alice: Account, bob: Account
) -> None:
    room_id = await api.create(alice, private=True, name="Book club")
    invited = await api.invite(alice, room_id, bob.id)
    assert invited.status_code == 200, invited.text
    assert invited.json()["inviter_username"] == alice.username
    assert (await api.invite(alice, room_id, bob.id)).json() == invited.json()  # idempotent
    inbox = await api.invites(bob)
    assert [(i["room_id"], i["room_name"], i["inviter_id"]) for i in inbox] == [
        (room_id, "Book club", alice.id)
    ]
    assert (await api.room(bob, room_id)).status_code == 404  # not before accepting
    accepted = await api.answer(bob, room_id, accept=True)
    assert accepted.status_code == 200 and accepted.json()["id"] == room_id
    assert await api.invites(bob) == []
    assert (await api.room(bob, room_id)).json()["role"] == "member"
    assert await api.join_status(bob, room_id) == 101
    assert (await api.answer(bob, room_id, accept=True)).status_code == 404  # used up
    assert (await api.invite(alice, room_id, bob.id)).status_code == 409  # a member already


async def test_a_declined_invitation_is_gone(api: Api, alice: Account, bob: Account) -> None:
    room_id = await api.create(alice, private=True)
    await api.invite(alice, room_id, bob.id)
    assert (await api.answer(bob, room_id, accept=False)).status_code == 204
    assert await api.invites(bob) == []
    assert (await api.room(bob, room_id)).status_code == 404
    assert (await api.answer(bob, room_id, accept=False)).status_code == 404


async def test_invitations_refuse_public_rooms_banned_users_and_blocks(
    api: Api, client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    public = await api.create(alice, private=False)
    assert (await api.invite(alice, public, bob.id)).status_code == 400
    room_id = await api.create(alice, private=True)
    assert (await api.invite(alice, room_id, MISSING_USER)).status_code == 404
    assert (await api.ban(alice, room_id, bob.id)).status_code == 200
    assert (await api.invite(alice, room_id, bob.id)).status_code == 403
    carol = await register(client, "carol")
    await api.block(carol, alice.id)
    refused = await api.invite(alice, room_id, carol.id)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "a block stands between you and this user"}


async def test_members_are_listed_with_roles_a_page_at_a_time(
    api: Api, client: httpx.AsyncClient, alice: Account
) -> None:
    room_id = await api.create(alice, private=True)
    people = [await register(client) for _ in range(4)]
    await api.add(alice, room_id, *people)
    assert (await api.set_role(alice, room_id, people[0].id, "moderator")).status_code == 200
    listed, cursor = [], None
    for _ in range(10):
        page = (
            await api.members(people[1], room_id, limit=2, **({"cursor": cursor} if cursor else {}))
        ).json()
        listed.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    roles = {m["user_id"]: m["role"] for m in listed}
    assert [m["user_id"] for m in listed] == sorted(roles)
    assert roles == {
        alice.id: "owner",
        people[0].id: "moderator",
        **{p.id: "member" for p in people[1:]},
    }
    assert (await api.room(alice, room_id)).json()["members"] == 5


async def test_roles_are_the_owners_and_take_effect_at_once(
    api: Api, client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    carol = await register(client, "carol")
    room_id = await api.create(alice, private=True)
    await api.add(alice, room_id, bob, carol)
    assert (await api.kick(bob, room_id, carol.id)).status_code == 403
    promoted = await api.set_role(alice, room_id, bob.id, "moderator")
    assert promoted.status_code == 200 and promoted.json()["role"] == "moderator"
    assert (await api.kick(bob, room_id, carol.id)).status_code == 204
    assert (await api.set_role(bob, room_id, alice.id, "member")).status_code == 403
    assert (await api.set_role(alice, room_id, alice.id, "member")).status_code == 400
    assert (await api.set_role(alice, room_id, carol.id, "member")).status_code == 404
    assert (await api.set_role(alice, room_id, bob.id, "owner")).status_code == 422
    demoted = await api.set_role(alice, room_id, bob.id, "member")
    assert demoted.json()["role"] == "member"
    assert (await api.invite(bob, room_id, carol.id)).status_code == 403


async def test_nobody_kicks_or_bans_an_equal_or_higher_role(
    api: Api, client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    carol = await register(client, "carol")
    room_id = await api.create(alice, private=True)
    await api.add(alice, room_id, bob, carol)
    for moderator in (bob, carol):
        await api.set_role(alice, room_id, moderator.id, "moderator")
    assert (await api.kick(bob, room_id, carol.id)).status_code == 403
    assert (await api.ban(bob, room_id, carol.id)).status_code == 403
    assert (await api.kick(bob, room_id, alice.id)).status_code == 403
    assert (await api.ban(bob, room_id, alice.id)).status_code == 403
    assert (await api.kick(alice, room_id, alice.id)).status_code == 400
    assert (await api.kick(alice, room_id, carol.id)).status_code == 204
    assert (await api.kick(alice, room_id, carol.id)).status_code == 404  # not a member now


async def test_a_ban_removes_refuses_and_can_be_lifted(
    api: Api, alice: Account, bob: Account
) -> None:
    room_id = await api.create(alice, private=False, name="Lobby")
    assert await api.join_status(bob, room_id) == 101
    assert (await api.room(bob, room_id)).json()["role"] == "member"  # joining made a member
    banned = await api.ban(alice, room_id, bob.id, reason="spam")
    assert banned.status_code == 200, banned.text
    body = banned.json()
    assert (body["user_id"], body["banned_by"], body["reason"]) == (bob.id, alice.id, "spam")
    assert body["banned_by_username"] == alice.username
    assert (await api.ban(alice, room_id, bob.id, reason="again")).json() == body
    assert (await api.room(bob, room_id)).json()["member"] is False
    assert await api.join_status(bob, room_id) == 403
    listed = (await api.bans(alice, room_id)).json()["items"]
    assert [b["user_id"] for b in listed] == [bob.id]
    assert (await api.bans(bob, room_id)).status_code == 403
    assert (await api.unban(alice, room_id, bob.id)).status_code == 204
    assert (await api.unban(alice, room_id, bob.id)).status_code == 204
    assert await api.join_status(bob, room_id) == 101


async def test_leaving_ends_membership_and_an_owner_hands_the_room_on(
    api: Api, client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    carol = await register(client, "carol")
    room_id = await api.create(alice, private=True)
    await api.add(alice, room_id, bob, carol)
    await api.set_role(alice, room_id, carol.id, "moderator")
    assert (await api.leave(alice, room_id)).status_code == 204
    assert (await api.room(alice, room_id)).status_code == 404
    assert (await api.room(carol, room_id)).json()["role"] == "owner"  # moderators first
    assert (await api.leave(bob, room_id)).status_code == 204
    assert room_id not in [r["id"] for r in await api.rooms(bob, mine="true")]
    public = await api.create(alice, private=False)
    for _ in range(2):
        assert (await api.leave(bob, public)).status_code == 204  # not a member: fine


async def test_getrooms_marks_membership_and_role(api: Api, alice: Account, bob: Account) -> None:
    room_id = await api.create(alice, private=False)
    listed = {r["id"]: r for r in await api.rooms(bob)}
    assert (listed[room_id]["member"], listed[room_id]["role"]) == (False, None)
    assert listed[room_id]["kind"] == "public"
    assert (await api.join_status(bob, room_id)) == 101
    listed = {r["id"]: r for r in await api.rooms(bob)}
    assert (listed[room_id]["member"], listed[room_id]["role"]) == (True, "member")
    owned = {r["id"]: r for r in await api.rooms(alice, mine="true")}
    assert owned[room_id]["role"] == "owner"


async def test_a_deleted_account_leaves_its_rooms_and_its_dms_stay_for_the_other(
    api: Api, client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    carol = await register(client, "carol")
    dm = (await api.dm(alice, bob.id)).json()["id"]
    room_id = await api.create(alice, private=True, name="Club")
    await api.add(alice, room_id, bob)
    await api.set_role(alice, room_id, bob.id, "moderator")
    await api.ban(bob, room_id, carol.id, reason="rude")  # a ban bob made
    other = await api.create(carol, private=True)
    await api.invite(carol, other, bob.id)  # an invitation to bob

    assert (await client.delete("/users/delete", headers=bob.headers)).status_code == 204

    members = (await api.members(alice, room_id)).json()["items"]
    assert [m["user_id"] for m in members] == [alice.id]
    ban = (await api.bans(alice, room_id)).json()["items"]
    assert [(b["user_id"], b["banned_by"], b["reason"]) for b in ban] == [(carol.id, None, "rude")]
    mine = {r["id"]: r for r in await api.rooms(alice, mine="true")}
    assert mine[dm]["name"] == "deleted account" and mine[dm]["peer_id"] == bob.id
    detail = (await api.room(alice, dm)).json()
    assert (detail["name"], detail["members"]) == ("deleted account", 1)
    assert await api.join_status(alice, dm) == 101
    assert (await api.dm(alice, bob.id)).status_code == 404  # nobody to write to
