"""Private conversations in the browser: two people write to each other directly, a private
room with an invitation accepted, roles and a kick seen by the kicked person, and block and
mute on a profile."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.support.servers import ProcessServer
from tests.web.pages import Person, assert_accessible

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
    alice = await Person.open(browser, url, "alice")
    bob = await Person.open(browser, url, "bob")
    await alice.sign_up()
    await bob.sign_up()

    # Alice writes to Bob from his profile; the conversation is named after the other person.
    await open_profile(alice, bob)
    await alice.page.get_by_role("button", name=f"Message {bob.username}").click()
    await expect(alice.page.get_by_role("heading", name=bob.username, level=1)).to_be_visible()
    await expect(alice.connection).to_have_attribute("data-state", "live")
    await alice.send("just between us")
    await expect(alice.message("just between us")).to_have_count(1)
    await bob.go("Chat")
    dms = bob.page.locator("#dms")
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
    # Coming back, the room no longer exists for him.
    await bob.go("Chat")
    await expect(bob.page.locator("#my-rooms")).not_to_contain_text(room)
    await bob.page.goto(alice.page.url)
    await expect(bob.page.locator("#connection-text")).to_have_text(
        "This room does not exist, or you are not one of its members."
    )
    await alice.close()
    await bob.close()


async def test_mute_and_block_from_a_profile(browser: Browser, web_server: ProcessServer) -> None:
    url = web_server.url
    alice = await Person.open(browser, url, "alice")
    bob = await Person.open(browser, url, "bob")
    await alice.sign_up()
    await bob.sign_up()
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
    await alice.close()
    await bob.close()
