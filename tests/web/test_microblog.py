"""The micro-blog in the browser: a mention and a hashtag become links, like and repost
buttons count at once, a reply lands in the thread view, the author's unread badge and
notifications page tell her, and her post reposted shows "Reposted by" in her feed."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.support.servers import ProcessServer
from tests.web.pages import Person, alice_and_bob, assert_accessible

pytestmark = pytest.mark.slow


async def user_id(person: Person) -> int:
    response = await person.context.request.get(f"{person.base_url}/auth/me")
    body = await response.json()
    return int(body["id"])


async def follow(person: Person, target_id: int) -> None:
    response = await person.context.request.post(
        f"{person.base_url}/users/follow?toFollowId={target_id}",
        headers={"Origin": person.base_url},
    )
    assert response.status == 200, await response.text()


async def test_mention_tag_like_repost_reply_and_notifications(
    browser: Browser, web_server: ProcessServer
) -> None:
    url = web_server.url
    alice, bob = await alice_and_bob(browser, url)
    alice_id, bob_id = await user_id(alice), await user_id(bob)
    await follow(bob, alice_id)
    await follow(alice, bob_id)

    tag = f"Topic{alice_id}"
    text = f"Hi @{bob.username}, see #{tag}"
    await alice.post(text)

    # Bob reads it: the mention and the tag are links.
    await bob.page.reload()
    post = bob.page.locator("#feed .post").filter(has_text="see #")
    await expect(post).to_have_count(1)
    mention = post.get_by_role("link", name=f"@{bob.username}")
    await expect(mention).to_have_attribute("href", f"#/users/{bob_id}")
    await expect(post.get_by_role("link", name=f"#{tag}")).to_have_attribute(
        "href", f"#/tags/{tag.lower()}"
    )

    # Like and repost count at once, and say they are pressed.
    await post.get_by_role("button", name="Like (0)").click()
    liked = post.get_by_role("button", name="Like (1)")
    await expect(liked).to_have_attribute("aria-pressed", "true")
    await post.get_by_role("button", name="Repost (0)").click()
    await expect(post.get_by_role("button", name="Repost (1)")).to_have_attribute(
        "aria-pressed", "true"
    )

    # Bob replies in the thread view.
    await post.get_by_role("link", name="Reply (0)").first.click()
    await expect(bob.page.get_by_role("heading", name="Thread")).to_be_visible()
    await expect(bob.page.locator("#thread-post .content")).to_have_text(text)
    await bob.page.get_by_role("textbox", name="Write a reply").fill("Thanks, alice!")
    await bob.page.get_by_role("button", name="Reply", exact=True).click()
    await expect(bob.page.locator("#thread-replies .content")).to_have_text("Thanks, alice!")
    await assert_accessible(bob.page, "thread")

    # Alice: her post, reposted by Bob, in her own feed; the badge counts four unread.
    await alice.page.reload()
    await expect(alice.page.get_by_role("heading", name="Timeline", exact=True)).to_be_visible()
    reposted = alice.page.locator("#feed .post").filter(has_text="Reposted by")
    await expect(reposted).to_have_count(1)
    await expect(reposted.get_by_role("link", name=bob.username).first).to_be_visible()
    await expect(alice.page.locator("#unread-badge")).to_have_text("4")
    await expect(
        alice.page.get_by_role("link", name=re.compile(r"Notifications \(4 unread\)"))
    ).to_be_visible()

    await alice.go("Notifications (4 unread)")
    notices = alice.page.locator("#notifications > li")
    await expect(notices).to_have_count(4)
    for verb in ("replied to your post", "reposted your post", "liked your post", "followed you"):
        await expect(notices.filter(has_text=verb)).to_have_count(1)
    await expect(alice.page.locator("#unread-badge")).to_be_hidden()
    await assert_accessible(alice.page, "notifications")

    # The tag page lists the post.
    await alice.go("Timeline")
    await (
        alice.page.locator("#feed .post")
        .filter(has_text="Reposted by")
        .get_by_role("link", name=f"#{tag}")
        .click()
    )
    await expect(alice.page.get_by_role("heading", name=f"#{tag.lower()}")).to_be_visible()
    await expect(alice.page.locator("#tag-feed .post")).to_have_count(1)
    await assert_accessible(alice.page, "tag")

    await alice.close()
    await bob.close()
