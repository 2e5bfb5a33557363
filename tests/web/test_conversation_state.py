"""Conversation state in the browser (issue 13): links that are safe, a draft kept per room
across a reload, the multi-line composer, "not found" for a room that is not there, a room
past the first hundred titled by name, the timeline refreshed by its own link, times without
a leading zero and day separators, mentions of me, and opt-in desktop notifications."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect

from tests.support.servers import ProcessServer
from tests.web.pages import Person, alice_and_bob, assert_accessible

pytestmark = pytest.mark.slow


async def test_links_are_safe_and_mentions_of_me_stand_out(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    room_id = await alice.create_room(f"Links {alice.username}")
    await bob.join(room_id)

    text = (
        "see https://example.com/a_(b)?q=1. or javascript:alert(1) "
        "or <a href=x>tag</a> or ftp://example.com/f"
    )
    await bob.send(text)
    await expect(alice.message(text)).to_have_count(1)
    links = alice.page.locator("#messages .content a")
    await expect(links).to_have_count(1)
    await expect(links).to_have_attribute("href", "https://example.com/a_(b)?q=1")
    await expect(links).to_have_text("https://example.com/a_(b)?q=1")
    await expect(links).to_have_attribute("target", "_blank")
    await expect(links).to_have_attribute("rel", "noopener noreferrer")
    # The markup stays text: no element was made from it.
    assert await alice.page.locator("#messages .content a[href='x']").count() == 0
    assert await alice.page.locator("#messages [href^='javascript']").count() == 0

    # A mention of Alice is highlighted for her, not for Bob who wrote it.
    await bob.send(f"what do you think, @{alice.username}?")
    mention = alice.page.locator("#messages li.mentions-me mark.mention-me")
    await expect(mention).to_have_text(f"@{alice.username}")
    await expect(bob.page.locator("#messages li.mentions-me")).to_have_count(0)
    await assert_accessible(alice.page, "room with a link and a mention")

    # Posts get the same treatment.
    await alice.go("Timeline")
    await alice.post("read https://example.org/x, not javascript:alert(2)")
    post_links = alice.page.locator("#feed .post .content a")
    await expect(post_links).to_have_count(1)
    await expect(post_links).to_have_attribute("href", "https://example.org/x")
    await expect(post_links).to_have_attribute("rel", "noopener noreferrer")
    await alice.close()
    await bob.close()


async def test_the_composer_takes_lines_and_keeps_a_draft_per_room_across_a_reload(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice = await Person.open(browser, url, "alice")
    await alice.sign_up()
    page = alice.page
    first = await alice.create_room(f"Drafts {alice.username}")
    box = page.get_by_role("textbox", name="Message")

    # Shift+Enter is a new line; Enter sends the whole message.
    await box.press_sequentially("line one")
    await box.press("Shift+Enter")
    await box.press_sequentially("line two")
    await expect(box).to_have_value("line one\nline two")
    await box.press("Enter")
    await expect(alice.message("line one\nline two")).to_have_count(1)
    await expect(box).to_have_value("")
    assert await page.evaluate("() => localStorage.length") == 0  # sent: no draft left

    # An unsent draft survives a reload, in its own room only.
    await box.press_sequentially("half a thought")
    await page.reload()
    await expect(alice.connection).to_have_attribute("data-state", "live")
    await expect(page.get_by_role("textbox", name="Message")).to_have_value("half a thought")
    second = await alice.create_room(f"Other {alice.username}")
    await expect(page.get_by_role("textbox", name="Message")).to_have_value("")
    await page.goto(f"{url}/#/chat/{first}")
    await expect(page.get_by_role("textbox", name="Message")).to_have_value("half a thought")
    # Only drafts are stored, never a token.
    stored = await page.evaluate("() => Object.keys(localStorage)")
    assert all(key.startswith("gochat.draft.") for key in stored), stored
    assert "auth_token" not in str(await page.evaluate("() => JSON.stringify(localStorage)"))
    assert second

    # Sending clears it; logging out forgets every draft.
    await page.get_by_role("textbox", name="Message").press("Enter")
    await expect(alice.message("half a thought")).to_have_count(1)
    await page.get_by_role("textbox", name="Message").fill("never sent")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert await page.evaluate("() => localStorage.length") == 0
    await alice.close()


async def test_a_missing_room_is_not_found_and_a_far_room_has_its_name(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice = await Person.open(browser, url, "alice")
    await alice.sign_up()
    page = alice.page
    await page.goto(f"{url}/#/chat/doesnotexist")
    await expect(page.get_by_role("heading", name="Room not found")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Message")).to_be_hidden()
    await expect(page).to_have_title(re.compile("Room not found"))
    await assert_accessible(page, "room not found")

    # More than a page of rooms (the list shows 100): the last one still shows its name.
    last = ""
    for n in range(101):
        room = await alice.api_post("/chat/ws/createRoom", {"name": f"Far {n} {alice.username}"})
        last = str(room["id"])
    await page.goto(f"{url}/#/chat/{last}")
    await expect(page.get_by_role("heading", name=f"Far 100 {alice.username}")).to_be_visible()
    await expect(page).to_have_title(re.compile(f"Far 100 {alice.username}"))
    await alice.close()


async def test_the_timeline_link_refreshes_the_timeline(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice = await Person.open(browser, url, "alice")
    await alice.sign_up()
    await alice.go("Timeline")
    await alice.api_post("/users/posts", {"content": "written elsewhere"})
    await expect(alice.feed_post("written elsewhere")).to_have_count(0)
    await alice.go("Timeline")  # already on it
    await expect(alice.feed_post("written elsewhere")).to_have_count(1)
    await alice.close()


async def test_times_have_no_leading_zero_and_days_are_separated(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice = await Person.open(browser, url, "alice")
    await alice.sign_up()
    room_id = await alice.create_room(f"Times {alice.username}")
    await alice.send("today's message")
    await expect(alice.message("today's message")).to_have_count(1)
    time = alice.page.locator("#messages li.message time").first
    shown = await time.text_content()
    assert shown and re.fullmatch(r"[1-9]\d?:\d\d( [AP]M)?", shown.replace("\u202f", " ")), shown
    assert await time.get_attribute("title")  # the full date on hover
    await expect(alice.page.locator("#messages li.day")).to_have_text("Today")

    # Two days later the same message shows its date, under a dated separator.
    later = await alice.context.new_page()
    await later.clock.set_fixed_time(datetime.now(UTC) + timedelta(days=2))
    await later.goto(f"{url}/#/chat/{room_id}")
    await expect(later.locator("#messages li.message")).to_have_count(1)
    day = await later.locator("#messages li.day").text_content()
    assert day and day not in ("Today", "Yesterday") and re.search(r"\d{4}", day), day
    dated = await later.locator("#messages li.message time").text_content()
    assert dated and re.search(r"[A-Z][a-z]{2} \d", dated), dated
    await later.close()
    await alice.close()


NOTIFICATION_SPY = """
window.__notes = [];
window.__hidden = false;
Object.defineProperty(Document.prototype, "visibilityState", {
  get() { return window.__hidden ? "hidden" : "visible"; },
});
class SpyNotification {
  static permission = "default";
  static async requestPermission() { SpyNotification.permission = "granted"; return "granted"; }
  constructor(title, options) { window.__notes.push({ title, body: options.body }); }
  addEventListener() {}
  close() {}
}
window.Notification = SpyNotification;
"""


async def test_desktop_notifications_are_opt_in_and_shown_for_a_mention_in_a_hidden_tab(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice = await Person.open(browser, url, "alice")
    bob = await Person.open(browser, url, "bob")
    await alice.context.add_init_script(NOTIFICATION_SPY)
    await alice.page.reload()
    await alice.sign_up()
    await bob.sign_up()
    room_id = await alice.create_room(f"Bell {alice.username}")
    await bob.join(room_id)

    # Not asked for until Alice presses the button; nothing shown before.
    await alice.page.evaluate("() => { window.__hidden = true; }")
    await bob.send(f"@{alice.username} before opting in")
    await expect(alice.message(f"@{alice.username} before opting in")).to_have_count(1)
    assert await alice.page.evaluate("() => Notification.permission") == "default"
    await alice.go("Chat")
    await alice.page.get_by_role("button", name="Turn on desktop notifications").click()
    await expect(alice.page.locator("#desktop-status")).to_have_text(
        "On for direct messages and mentions."
    )
    await alice.page.goto(f"{url}/#/chat/{room_id}")
    await expect(alice.connection).to_have_attribute("data-state", "live")
    await alice.page.evaluate("() => { window.__hidden = true; }")
    await bob.send("not about Alice")
    await bob.send(f"ping @{alice.username}")
    await expect(alice.message(f"ping @{alice.username}")).to_have_count(1)
    notes = await alice.page.evaluate("() => window.__notes")
    assert notes == [
        {"title": f"{bob.username} in Bell {alice.username}", "body": f"ping @{alice.username}"}
    ]
    await alice.close()
    await bob.close()
