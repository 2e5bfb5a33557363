"""The web client end to end, in Debian's Chromium against a real `gochat dev` process: two
people sign up, follow, post and read the feed, chat through a server restart without losing
or doubling a message, and leave; and the main flows with the keyboard alone."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from tests.support.servers import ProcessServer
from tests.web.pages import PHONE, Person, assert_accessible, focused, tab_to

pytestmark = pytest.mark.slow


async def message_ids(page: Page) -> list[int]:
    values = await page.locator("#messages > li[data-message-id]").evaluate_all(
        "items => items.map(item => Number(item.dataset.messageId))"
    )
    return [int(value) for value in values]


async def test_two_people_follow_post_and_chat_through_a_server_restart(
    browser: Browser, web_server: ProcessServer, artifacts: Path
) -> None:
    url = web_server.url
    alice = await Person.open(browser, url, "alice")
    bob = await Person.open(browser, url, "bob", viewport=PHONE)
    await bob.page.emulate_media(color_scheme="dark")  # Alice in light colours, Bob in dark
    await assert_accessible(bob.page, "log in")
    await alice.sign_up()
    await bob.sign_up()

    # Bob posts. The cookie is HttpOnly and the page keeps no token of its own.
    first_post = f"Hello from {bob.username}"
    await bob.post(first_post)
    await assert_accessible(bob.page, "timeline")
    assert await bob.page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert "auth_token" not in await bob.page.evaluate("() => document.cookie")
    for n in range(21):  # enough for a second page of Alice's feed
        response = await bob.context.request.post(
            f"{url}/users/posts", data={"content": f"post number {n}"}, headers={"Origin": url}
        )
        assert response.status == 201, await response.text()

    # Alice finds Bob and follows him; the counts follow.
    await alice.go("People")
    await alice.page.get_by_role("searchbox", name="Search by username").fill(bob.username)
    await alice.page.get_by_role("button", name="Search").click()
    await alice.page.get_by_role("link", name=bob.username).click()
    await expect(alice.page.get_by_role("heading", name=bob.username)).to_be_visible()
    await expect(alice.page.locator("#profile-posts")).to_have_text("22")
    await expect(alice.page.locator("#profile-followers")).to_have_text("0")
    await alice.page.get_by_role("button", name=f"Follow {bob.username}").click()
    await expect(alice.page.get_by_role("button", name=f"Unfollow {bob.username}")).to_be_visible()
    await expect(alice.page.locator("#profile-followers")).to_have_text("1")
    await assert_accessible(alice.page, "profile")

    # Bob's posts are in Alice's feed; his first one is on the second page.
    await alice.go("Timeline")
    await expect(alice.feed_post("post number 20")).to_have_count(1)
    await expect(alice.feed_post(first_post)).to_have_count(0)
    await alice.page.get_by_role("button", name="Load more posts").click()
    await expect(alice.feed_post(first_post)).to_have_count(1)
    await expect(alice.page.locator("#feed > li")).to_have_count(22)
    await expect(alice.page.get_by_text("You have reached the end.")).to_be_visible()
    await expect(alice.page.get_by_role("button", name="Load more posts")).to_be_hidden()
    await assert_accessible(alice.page, "timeline, two pages")

    # The post box counts down from 500 and refuses more; Alice's own post can be deleted.
    box = alice.page.get_by_role("textbox", name="Write a post")
    await box.fill("Hi all")
    await expect(alice.page.locator("#post-counter")).to_have_text("494 characters left")
    await box.fill("x" * 501)
    await expect(alice.page.locator("#post-counter")).to_have_text("1 character too many")
    await alice.page.get_by_role("button", name="Post", exact=True).click()
    await expect(alice.page.locator("#post-error")).to_contain_text("at most 500")
    await alice.post("Alice was here")
    await alice.page.get_by_role("button", name="Delete post: Alice was here").click()
    dialog = alice.page.get_by_role("dialog", name="Delete this post?")
    await dialog.get_by_role("button", name="Delete post").click()
    await expect(alice.feed_post("Alice was here")).to_have_count(0)

    # Alice opens a room; Bob sees it online and joins; presence reaches both.
    room = f"Room {alice.username}"
    await alice.go("Chat")
    await alice.page.get_by_role("textbox", name="New room name").fill(room)
    await alice.page.get_by_role("button", name="Create room").click()
    await expect(alice.page.get_by_role("heading", name=room)).to_be_visible()
    await expect(alice.connection).to_have_attribute("data-state", "live")
    await bob.go("Chat")
    room_item = bob.page.locator("#rooms > li").filter(has_text=room)
    await expect(room_item).to_contain_text("1 online")
    await assert_accessible(bob.page, "rooms")
    await room_item.get_by_role("link", name=room).click()
    await expect(bob.connection).to_have_attribute("data-state", "live")
    await expect(alice.members).to_contain_text(bob.username)
    await expect(bob.members).to_contain_text(alice.username)

    # Messages both ways, each shown once (own ones too), new ones announced.
    await alice.send("hi Bob")
    await expect(bob.message("hi Bob")).to_have_count(1)
    await bob.send("hi Alice")
    await expect(alice.message("hi Alice")).to_have_count(1)
    await expect(alice.message("hi Bob")).to_have_count(1)
    await expect(alice.page.locator("#messages-live")).to_contain_text(f"{bob.username}: hi Alice")

    # The server goes away (SIGTERM closes every socket) while Alice is cut off too, so she
    # misses what Bob writes after the restart; she also writes while cut off. Her page's new
    # sockets are refused until she is back (offline emulation alone lets websockets through).
    last_seen = await alice.last_message_id()
    cut_off = True

    async def gate(route: WebSocketRoute) -> None:
        if cut_off:
            await route.close(code=1012, reason="cut off by the test")
        else:
            route.connect_to_server()

    # Her live stream too: its activity frames must not tell her page of Bob's messages early.
    await alice.page.route_web_socket(re.compile(r"/chat/ws/(joinRoom/|events)"), gate)
    await alice.context.set_offline(True)
    await asyncio.to_thread(web_server.stop)
    await expect(alice.connection).to_have_attribute("data-state", "reconnecting")
    await expect(alice.page.locator("#connection-text")).to_contain_text("Reconnecting…")
    await expect(bob.connection).to_have_attribute("data-state", "reconnecting")
    await alice.send("written while cut off")
    await expect(alice.page.locator("#messages > li.pending")).to_contain_text(
        "Waiting for the connection"
    )
    await asyncio.to_thread(web_server.start)
    await expect(bob.connection).to_have_attribute("data-state", "live", timeout=30_000)
    missed = [f"missed {n}" for n in range(3)]
    for text in missed:
        await bob.send(text)
        await expect(bob.message(text)).to_have_count(1)
    # Stored, not just shown: Bob's page shows a message at once as pending and sends the
    # next only once the server has echoed the last. Until all three are stored, a quick
    # reconnect of Alice's would get the rest live rather than as missed.
    await expect(bob.page.locator("#messages > li.pending")).to_have_count(0)
    cut_off = False
    await alice.context.set_offline(False)
    await expect(alice.connection).to_have_attribute("data-state", "live", timeout=30_000)
    for text in [*missed, "written while cut off"]:
        await expect(alice.message(text)).to_have_count(1)
        await expect(bob.message(text)).to_have_count(1)
    await expect(alice.page.locator("#messages > li.pending")).to_have_count(0)
    announcer = alice.page.locator("#announcer")
    await expect(announcer).to_contain_text("3 new messages while you were away.")
    await expect(announcer).to_contain_text("Reconnected.")
    room_sockets = [socket for socket in alice.socket_urls if "/joinRoom/" in socket]
    assert room_sockets[-1].endswith(f"?after={last_seen}"), room_sockets
    # Both show the same messages, in id order, none twice.
    alice_ids = await message_ids(alice.page)
    assert alice_ids == sorted(set(alice_ids))
    assert alice_ids == await message_ids(bob.page)
    await expect(alice.members).to_contain_text(bob.username)
    await assert_accessible(alice.page, "chat room")
    await assert_accessible(bob.page, "chat room")
    await alice.page.screenshot(path=artifacts / "web-chat.png")
    await bob.page.screenshot(path=artifacts / "web-chat-phone.png")

    # Bob leaves the room, then deletes his account with a confirmation.
    await bob.go("Account")
    await expect(alice.members).not_to_contain_text(bob.username)
    await bob.page.get_by_role("button", name="Delete account…").click()
    dialog = bob.page.get_by_role("dialog", name="Delete your account?")
    confirm = dialog.get_by_role("button", name="Delete my account")
    await expect(confirm).to_be_disabled()
    await dialog.get_by_role("textbox").fill(bob.username)
    await assert_accessible(bob.page, "delete account dialog")
    await confirm.click()
    await expect(bob.page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(bob.page.locator("#notice")).to_have_text("Your account has been deleted.")

    # Alice logs out in a second tab: the server closes the room's socket in the first one
    # (4401), which then says the session has ended. The cookie is gone.
    second_tab = await alice.context.new_page()
    await second_tab.goto(f"{url}/#/timeline")
    await second_tab.get_by_role("button", name="Log out").click()
    await expect(second_tab.locator("#notice")).to_have_text("You have logged out.")
    await expect(alice.page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(alice.page.locator("#notice")).to_have_text(
        "Your session has ended. Please log in again."
    )
    assert not [c for c in await alice.context.cookies() if c["name"] == "auth_token"]
    await alice.page.goto(f"{url}/#/timeline")
    await expect(alice.page.get_by_role("heading", name="Log in")).to_be_visible()

    await alice.close()
    await bob.close()


async def test_sign_up_post_chat_and_delete_the_account_with_the_keyboard_alone(
    browser: Browser, web_server: ProcessServer
) -> None:
    carol = await Person.open(browser, web_server.url, "carol", viewport=PHONE)
    page = carol.page
    key = page.keyboard

    # The first Tab reaches the skip link; it moves focus to the content.
    await key.press("Tab")
    assert await focused(page, "#skip-link")
    await key.press("Enter")
    assert await focused(page, "main")

    # Sign up: each field follows the one before it.
    await tab_to(page, "a[href='#/signup']")
    await key.press("Enter")
    await expect(page.get_by_role("heading", name="Create an account")).to_be_focused()
    await key.press("Tab")
    assert await focused(page, "#signup-username")
    await key.press("Enter")  # an empty form: errors by each field, focus on the first
    await expect(page.locator("#signup-username")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#signup-password-error")).to_have_text("Use at least 8 characters.")
    assert await focused(page, "#signup-username")
    await assert_accessible(page, "sign-up errors")
    await key.type(carol.username)
    await key.press("Tab")
    assert await focused(page, "#signup-email")
    await key.type(f"{carol.username}@example.com")
    await key.press("Tab")
    assert await focused(page, "#signup-password")
    await key.type("correct horse battery")
    await key.press("Enter")
    await expect(page.get_by_role("heading", name="Timeline", exact=True)).to_be_focused()

    # Post (Ctrl+Enter), then delete the post through its dialog.
    await key.press("Tab")
    assert await focused(page, "#post-content")
    await key.type("typed, not clicked")
    await key.press("Control+Enter")
    await expect(carol.feed_post("typed, not clicked")).to_have_count(1)
    await tab_to(page, "#feed button.delete")
    await key.press("Enter")
    await expect(page.get_by_role("dialog", name="Delete this post?")).to_be_visible()
    await key.press("Escape")  # Escape cancels and gives focus back
    await expect(page.get_by_role("dialog")).to_be_hidden()
    assert await focused(page, "#feed button.delete")
    await key.press("Enter")
    await tab_to(page, "#confirm-ok")
    await key.press("Enter")
    await expect(carol.feed_post("typed, not clicked")).to_have_count(0)

    # Create a room and chat in it.
    await tab_to(page, "#main-nav a[data-nav=chat]", backwards=True)
    await key.press("Enter")
    await expect(page.get_by_role("heading", name="Chat rooms")).to_be_focused()
    await key.press("Tab")
    assert await focused(page, "#room-name")
    await key.type(f"Keys {carol.username}")
    await key.press("Enter")
    await expect(page.get_by_role("heading", name=f"Keys {carol.username}")).to_be_focused()
    await expect(carol.connection).to_have_attribute("data-state", "live")
    await tab_to(page, "#message-input")
    await key.type("hello by keyboard")
    await key.press("Enter")
    await expect(carol.message("hello by keyboard")).to_have_count(1)
    assert await focused(page, "#message-input")

    # Delete the account: the dialog opens on the confirmation field.
    await tab_to(page, "#main-nav a[data-nav=account]", backwards=True)
    await key.press("Enter")
    await tab_to(page, "#delete-account")
    await key.press("Enter")
    assert await focused(page, "#confirm-typed")
    await key.type(carol.username)
    await key.press("Enter")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await carol.close()
