"""Private conversations in the browser: two people write to each other directly, a private
room with an invitation accepted, roles and a kick seen by the kicked person, block and
mute on a profile, and a room left in one tab ending in the other."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.support.servers import ProcessServer
from tests.support.users import register
from tests.web.pages import PASSWORD, Person, alice_and_bob, assert_accessible

pytestmark = pytest.mark.slow


async def open_profile(person: Person, other: Person) -> None:
    await person.go("People")
    await person.page.get_by_role("searchbox", name="Search by username").fill(other.username)
    await person.page.get_by_role("button", name="Search").click()
    await person.page.get_by_role("link", name=other.username).click()
    await expect(person.page.get_by_role("heading", name=other.username)).to_be_visible()


async def test_a_direct_conversation_and_a_private_room_with_a_kick(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)

    # Alice writes to Bob from his profile; the conversation is named after the other person.
    await open_profile(alice, bob)
    await alice.page.get_by_role("button", name=f"Message {bob.username}").click()
    await expect(alice.page.get_by_role("heading", name=bob.username, level=1)).to_be_visible()
    await expect(alice.connection).to_have_attribute("data-state", "live")
    await alice.send("just between us")
    await expect(alice.message("just between us")).to_have_count(1)
    await bob.go("Chat")
    dms = bob.page.locator("#conversations")
    await expect(dms.get_by_role("link", name=alice.username)).to_be_visible()
    await assert_accessible(bob.page, "rooms with direct messages")
    await dms.get_by_role("link", name=alice.username).click()
    await expect(bob.message("just between us")).to_have_count(1)
    await bob.send("agreed")
    await expect(alice.message("agreed")).to_have_count(1)

    # Alice makes a private room and invites Bob; he accepts from his invitations.
    room = f"Club {alice.username}"
    await alice.go("Chat")
    await alice.page.get_by_role("textbox", name="New room name").fill(room)
    await alice.page.get_by_role("checkbox", name="Private: members only, by invitation").check()
    await alice.page.get_by_role("button", name="Create room").click()
    await expect(alice.page.get_by_role("heading", name=room)).to_be_visible()
    await expect(alice.connection).to_have_attribute("data-state", "live")
    await alice.page.get_by_role("textbox", name="Invite by username").fill(bob.username)
    await alice.page.get_by_role("button", name="Invite", exact=True).click()
    await expect(alice.page.locator("#invite-error")).to_have_text(f"{bob.username} is invited.")
    await bob.go("Chat")
    await expect(bob.page.locator("#rooms")).not_to_contain_text(room)  # not in the directory

    await bob.page.get_by_role("button", name=f"Accept {room}").click()
    await expect(bob.page.get_by_role("heading", name=room)).to_be_visible()
    await expect(bob.connection).to_have_attribute("data-state", "live")

    # The member list shows roles; the owner promotes and demotes Bob.
    members = alice.page.locator("#room-members")
    await expect(members.locator("li").filter(has_text=bob.username)).to_contain_text("member")
    await alice.page.get_by_role("button", name=f"Make {bob.username} a moderator").click()
    await expect(members.locator("li").filter(has_text=bob.username)).to_contain_text("moderator")
    await assert_accessible(alice.page, "room with members")
    await alice.page.get_by_role("button", name=f"Make {bob.username} a member").click()
    await expect(members.locator("li").filter(has_text=bob.username)).to_contain_text("member")
    await expect(bob.page.get_by_role("button", name=f"Remove {alice.username}")).to_have_count(0)

    # Alice removes Bob, after confirming.
    await alice.page.get_by_role("button", name=f"Remove {bob.username}").click()
    dialog = alice.page.get_by_role("dialog", name=f"Remove {bob.username}?")
    await dialog.get_by_role("button", name="Remove").click()
    await expect(members).not_to_contain_text(bob.username)
    # The server closes Bob's socket with 4403 and the reason, which his page shows.
    await expect(bob.page.locator("#connection-text")).to_have_text(
        f"You were removed from #{room} by {alice.username}."
    )
    # Coming back, the room no longer exists for him: "not found", with nothing to write in.
    await bob.go("Chat")
    await expect(bob.page.locator("#conversations")).not_to_contain_text(room)
    await bob.page.goto(alice.page.url)
    await expect(bob.page.get_by_role("heading", name="Room not found")).to_be_visible()
    await expect(bob.page.locator("#missing-text")).to_have_text(
        "This room does not exist, or you are not one of its members."
    )
    await expect(bob.page.get_by_role("textbox", name="Message")).to_be_hidden()
    await alice.close()
    await bob.close()


async def block_many(base_url: str, person: Person, count: int) -> None:
    """`person` blocks `count` new accounts, all newer than anyone they know so far: their
    block list is then longer than any page a client would read."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        login = await http.post(
            "/auth/login", json={"email": person.username, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for _ in range(count):
            other = await register(http, "many")
            blocked = await http.post(
                "/users/block", params={"toBlockId": other.id}, headers=headers
            )
            assert blocked.status_code == 200, blocked.text


async def test_mute_and_block_from_a_profile(browser: Browser, web_server: ProcessServer) -> None:
    """The buttons follow what the profile says, however many people Alice blocked before."""
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    await block_many(url, alice, 101)
    await bob.post(f"a post by {bob.username}")
    await open_profile(alice, bob)
    await alice.page.get_by_role("button", name=f"Follow {bob.username}").click()
    await alice.go("Timeline")
    await expect(alice.feed_post(f"a post by {bob.username}")).to_have_count(1)

    await open_profile(alice, bob)
    await alice.page.get_by_role("button", name=f"Mute {bob.username}").click()
    await expect(alice.page.get_by_role("button", name=f"Unmute {bob.username}")).to_be_visible()
    await alice.go("Timeline")
    await expect(alice.feed_post(f"a post by {bob.username}")).to_have_count(0)

    await open_profile(alice, bob)
    await alice.page.get_by_role("button", name=f"Block {bob.username}").click()
    dialog = alice.page.get_by_role("dialog", name=f"Block {bob.username}?")
    await dialog.get_by_role("button", name="Block").click()
    await expect(alice.page.get_by_role("button", name=f"Unblock {bob.username}")).to_be_visible()
    await expect(alice.page.locator("#profile-followers")).to_have_text("0")  # follow ended
    await expect(alice.page.get_by_role("button", name=f"Message {bob.username}")).to_be_disabled()
    await assert_accessible(alice.page, "profile with a block")
    # Seen from Bob's side: neither a message nor a follow would be accepted.
    await open_profile(bob, alice)
    await expect(bob.page.get_by_role("button", name=f"Message {alice.username}")).to_be_disabled()
    await expect(bob.page.get_by_role("button", name=f"Follow {alice.username}")).to_be_disabled()
    await expect(bob.page.get_by_role("button", name=f"Block {alice.username}")).to_be_enabled()
    await expect(bob.page.locator("#profile-relation")).to_have_text(
        f"{alice.username} blocked you: you cannot follow or message each other."
    )
    # Unblocked, the profile says so at once.
    await alice.page.get_by_role("button", name=f"Unblock {bob.username}").click()
    await expect(alice.page.get_by_role("button", name=f"Block {bob.username}")).to_be_visible()
    await expect(alice.page.get_by_role("button", name=f"Message {bob.username}")).to_be_enabled()
    await expect(alice.page.get_by_role("button", name=f"Unmute {bob.username}")).to_be_visible()
    await alice.close()
    await bob.close()


async def test_leaving_a_room_ends_it_in_the_other_tab_too(
    browser: Browser, web_server: ProcessServer
) -> None:
    """Bob has a public room open in two tabs and leaves it from one: the other says so and
    does not reconnect (which would make him a member again)."""
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    room = f"Lounge {alice.username}"
    await alice.go("Chat")
    await alice.page.get_by_role("textbox", name="New room name").fill(room)
    await alice.page.get_by_role("button", name="Create room").click()
    await expect(alice.connection).to_have_attribute("data-state", "live")
    await bob.page.goto(alice.page.url)
    await expect(bob.connection).to_have_attribute("data-state", "live")
    other_tab = await bob.context.new_page()
    other_tab.on("pageerror", lambda error: bob.script_errors.append(str(error)))
    await other_tab.goto(alice.page.url)
    await expect(other_tab.locator("#connection")).to_have_attribute("data-state", "live")

    await bob.page.get_by_role("button", name="Leave this room for good").click()
    await (
        bob.page.get_by_role("dialog", name="Leave this room?")
        .get_by_role("button", name="Leave", exact=True)
        .click()
    )
    await expect(other_tab.locator("#connection-text")).to_have_text(
        "You left this room (here or in another window)."
    )
    await expect(other_tab.locator("#connection")).to_have_attribute("data-state", "ended")
    await expect(other_tab.locator("#members li")).to_have_count(0)  # no stale "(you)"
    await other_tab.wait_for_timeout(1_500)  # a reconnect would have happened by now
    await expect(other_tab.locator("#connection")).to_have_attribute("data-state", "ended")
    await bob.go("Chat")
    await expect(bob.page.locator("#conversations")).not_to_contain_text(room)
    await alice.close()
    await bob.close()
