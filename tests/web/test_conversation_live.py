"""Conversation state the server keeps, in the browser (issue 13): scrolling back through a
room, unread badges cleared by reading (on the other tab too), editing and deleting, a
deleted account's messages as tombstones, typing, and the timeline's live "new posts"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.support.servers import ProcessServer
from tests.web.pages import Person, alice_and_bob, assert_accessible
from tests.web.test_conversation_state import NOTIFICATION_SPY

pytestmark = pytest.mark.slow

# Sends `count` messages into a room from the page, in order (each waits for its echo),
# spread over a few sockets to stay under the per-connection rate limit.
SEND_MANY = """
async ({ room, count, prefix }) => {
  const url = `ws://${location.host}/chat/ws/joinRoom/${encodeURIComponent(room)}`;
  const open = () => new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "ready") resolve(socket);
      if (socket.waiting) socket.waiting(frame);
    });
    socket.addEventListener("error", reject);
  });
  const sockets = await Promise.all([open(), open(), open(), open()]);
  for (let n = 0; n < count; n += 1) {
    const socket = sockets[n % sockets.length];
    const clientId = `${prefix}-${n}`;
    for (;;) {
      const answer = await new Promise((resolve) => {
        socket.waiting = (frame) => {
          const echo = frame.type === "message" && frame.client_id === clientId;
          if (frame.type === "error" || echo) resolve(frame);
        };
        const content = `${prefix} ${n}`;
        socket.send(JSON.stringify({ type: "message", content, client_id: clientId }));
      });
      if (answer.type === "message") break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
  for (const socket of sockets) socket.close();
}
"""


async def send_many(person: Person, room_id: str, count: int, prefix: str) -> None:
    await person.page.evaluate(SEND_MANY, {"room": room_id, "count": count, "prefix": prefix})


async def shown_ids(page: Page) -> list[int]:
    values = await page.locator("#messages > li[data-message-id]").evaluate_all(
        "items => items.map(item => Number(item.dataset.messageId))"
    )
    return [int(value) for value in values]


async def test_scrolling_up_loads_earlier_messages_in_place_while_new_ones_arrive(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    room_id = await bob.create_room(f"Long {bob.username}")
    await send_many(bob, room_id, 130, "m")

    await alice.join(room_id)
    page = alice.page
    await expect(alice.message("m 129")).to_have_count(1)
    assert len(await shown_ids(page)) == 50
    messages = page.locator("#messages")
    # At the top, the next 50 come in above; what was on top stays where it was on screen.
    top_item = page.locator("#messages > li[data-message-id]").first
    await expect(top_item.locator(".content")).to_have_text("m 80")
    await messages.evaluate("list => { list.scrollTop = 0; }")
    await expect(alice.message("m 30")).to_have_count(1)
    offset = await alice.message("m 80").evaluate(
        "node => node.getBoundingClientRect().top - node.closest('ol').getBoundingClientRect().top"
    )
    assert -5 < offset < 200, offset  # still in view near the top, not thrown to the bottom

    # A message arriving while scrolled up: once, at the end, and a button to get there.
    await bob.page.goto(f"{url}/#/chat/{room_id}")
    await expect(bob.connection).to_have_attribute("data-state", "live")
    await bob.send("live while reading")
    await expect(alice.message("live while reading")).to_have_count(1)
    jump = page.get_by_role("button", name=re.compile("1 new message"))
    await expect(jump).to_be_visible()

    # Up to the start of the room: every message once, in order.
    for _ in range(5):
        await messages.evaluate("list => { list.scrollTop = 0; }")
        if await page.get_by_text("This is the start of the room.").count():
            break
        await page.wait_for_timeout(300)
    await expect(page.get_by_text("This is the start of the room.")).to_be_visible()
    ids = await shown_ids(page)
    assert ids == sorted(set(ids)) and len(ids) == 131, ids
    await assert_accessible(page, "room scrolled back")
    await jump.click()
    await expect(jump).to_be_hidden()
    assert await messages.evaluate("l => l.scrollHeight - l.scrollTop - l.clientHeight < 40")
    await alice.close()
    await bob.close()


async def test_unread_badges_count_others_messages_and_reading_clears_them_everywhere(
    browser: Browser, web_server: ProcessServer, artifacts: Path
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    name = f"Busy {bob.username}"
    room_id = await bob.create_room(name)
    await alice.join(room_id)
    await alice.send("mine does not count")
    await alice.go("Chat")
    second_tab = await alice.context.new_page()
    await second_tab.goto(f"{url}/#/chat")

    for n in range(3):
        await bob.send(f"news {n}")
    item = alice.page.locator("#conversations > li").filter(has_text=name)
    await expect(item.locator(".badge")).to_have_text("3")
    await expect(item.locator(".preview")).to_contain_text(f"{bob.username}: news 2")
    await expect(alice.page).to_have_title(re.compile(r"^\(3\) "))
    await expect(alice.page.locator("#chat-badge")).to_have_text("3")
    other_item = second_tab.locator("#conversations > li").filter(has_text=name)
    await expect(other_item.locator(".badge")).to_have_text("3")
    # The busiest room is first.
    await expect(alice.page.locator("#conversations > li").first).to_contain_text(name)
    await assert_accessible(alice.page, "conversations with unread badges")
    await alice.page.screenshot(path=artifacts / "web-conversations.png")

    await item.get_by_role("link", name=re.compile(name)).click()
    await expect(alice.message("news 2")).to_have_count(1)
    await expect(alice.page).not_to_have_title(re.compile(r"^\("))
    await expect(other_item.locator(".badge")).to_have_count(0)  # read on the other tab too
    await expect(second_tab).not_to_have_title(re.compile(r"^\("))
    # Online counts are live too: Bob leaves the room, and the other tab sees Alice alone.
    await expect(other_item).to_contain_text("2 online")
    await bob.go("Timeline")
    await expect(other_item).to_contain_text("1 online")
    await second_tab.close()
    await alice.close()
    await bob.close()


async def test_edit_and_delete_own_messages_and_a_moderator_deletes_another(
    browser: Browser, web_server: ProcessServer, artifacts: Path
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    room_id = await alice.create_room(f"Edits {alice.username}")
    await bob.join(room_id)

    await bob.send("helo")
    await expect(alice.message("helo")).to_have_count(1)
    await bob.page.get_by_role("button", name="Edit your message: helo").click()
    box = bob.page.get_by_role("textbox", name="Edit message")
    await box.fill("hello")
    await box.press("Enter")
    await expect(alice.message("hello")).to_have_count(1)
    edited = alice.page.locator("#messages li.message").filter(has_text="hello")
    await expect(edited.locator(".edited")).to_have_text("(edited)")
    await expect(alice.message("helo")).to_have_count(0)
    # Alice may not edit Bob's message, but as the owner she may delete it.
    edit_buttons = alice.page.get_by_role("button", name=re.compile("^Edit your message"))
    await expect(edit_buttons).to_have_count(0)

    await bob.send("regret this")
    await expect(alice.message("regret this")).to_have_count(1)
    await bob.page.get_by_role("button", name="Delete your message: regret this").click()
    await (
        bob.page.get_by_role("dialog", name="Delete this message?")
        .get_by_role("button", name="Delete message")
        .click()
    )
    await expect(alice.message("regret this")).to_have_count(0)
    await expect(alice.page.locator("#messages li.tombstone")).to_have_count(1)
    tombstone = alice.page.locator("#messages li.tombstone .content")
    await expect(tombstone).to_have_text("message deleted")

    await bob.send("spam spam")
    delete_spam = f"Delete {bob.username}'s message: spam spam"
    await alice.page.get_by_role("button", name=delete_spam).click()
    await (
        alice.page.get_by_role("dialog", name="Delete this message?")
        .get_by_role("button", name="Delete message")
        .click()
    )
    await expect(bob.message("spam spam")).to_have_count(0)
    await expect(bob.page.locator("#messages li.tombstone")).to_have_count(2)

    # After a reload the room shows the same: the edit, and tombstones in place.
    await bob.page.reload()
    await expect(bob.connection).to_have_attribute("data-state", "live")
    await expect(bob.message("hello")).to_have_count(1)
    await expect(bob.page.locator("#messages li.tombstone")).to_have_count(2)
    await assert_accessible(bob.page, "room with edits and tombstones")
    await bob.page.screenshot(path=artifacts / "web-chat-edits.png")
    await alice.close()
    await bob.close()


async def test_a_deleted_accounts_messages_turn_into_tombstones_in_an_open_room(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    room_id = await alice.create_room(f"Gone {alice.username}")
    await bob.join(room_id)
    await bob.send("remember me")
    await expect(alice.message("remember me")).to_have_count(1)
    response = await bob.context.request.delete(f"{url}/users/delete", headers={"Origin": url})
    assert response.status in (200, 204), await response.text()
    await expect(alice.message("remember me")).to_have_count(0)
    tombstone = alice.page.locator("#messages li.tombstone")
    await expect(tombstone.locator(".author")).to_have_text("deleted account")
    await alice.close()
    await bob.close()


async def test_typing_shows_under_the_room_until_the_message_arrives(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    room_id = await alice.create_room(f"Typing {alice.username}")
    await bob.join(room_id)
    await bob.page.get_by_role("textbox", name="Message").press_sequentially("almost do")
    await expect(alice.page.locator("#typing")).to_have_text(f"{bob.username} is typing…")
    await expect(bob.page.locator("#typing")).to_have_text("")  # not my own
    await bob.page.get_by_role("textbox", name="Message").press("Enter")
    await expect(alice.message("almost do")).to_have_count(1)
    await expect(alice.page.locator("#typing")).to_have_text("")
    await alice.close()
    await bob.close()


async def test_the_timeline_says_live_when_someone_i_follow_posts(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    me = await (await bob.context.request.get(f"{url}/auth/me")).json()
    await alice.api_post(f"/users/follow?toFollowId={me['id']}")
    await alice.go("Timeline")
    await bob.api_post("/users/posts", {"content": "fresh from bob"})
    banner = alice.page.get_by_role("button", name=re.compile("1 new post"))
    await expect(banner).to_be_visible()
    await expect(alice.feed_post("fresh from bob")).to_have_count(0)
    await banner.click()
    await expect(alice.feed_post("fresh from bob")).to_have_count(1)
    await expect(banner).to_be_hidden()
    await alice.close()
    await bob.close()


async def test_a_direct_message_notifies_a_hidden_tab_that_is_elsewhere(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    await alice.context.add_init_script(NOTIFICATION_SPY)
    await alice.page.reload()
    await alice.go("Chat")
    await alice.page.get_by_role("button", name="Turn on desktop notifications").click()
    await expect(alice.page.locator("#desktop-status")).to_have_text(
        "On for direct messages and mentions."
    )
    await alice.go("Timeline")
    await alice.page.evaluate("() => { window.__hidden = true; }")
    me = await (await alice.context.request.get(f"{url}/auth/me")).json()
    room = await bob.api_post(f"/chat/ws/dm?userId={me['id']}")
    await bob.join(str(room["id"]))
    await bob.send("are you there?")
    await alice.page.wait_for_function("() => window.__notes.length > 0")
    notes = await alice.page.evaluate("() => window.__notes")
    assert notes == [{"title": bob.username, "body": "are you there?"}]
    await alice.close()
    await bob.close()
