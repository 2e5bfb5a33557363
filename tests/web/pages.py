"""What a person does in the web client, as Playwright steps (by role and label, as a screen
reader user finds things)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

PASSWORD = "correct horse battery"
# Generous for a shared 2-core machine; a passing run waits far less.
TIMEOUT_MS = 15_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# axe-core's WCAG 2.0-2.2 A and AA rules, plus its best practices (landmarks, headings…).
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def new_username(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


@dataclass
class Person:
    """One browser context (its own cookie jar) with one page open on the client."""

    username: str
    base_url: str
    context: BrowserContext
    page: Page
    script_errors: list[str] = field(default_factory=list)
    socket_urls: list[str] = field(default_factory=list)

    @classmethod
    async def open(
        cls, browser: Browser, base_url: str, prefix: str, *, viewport: dict[str, int] = DESKTOP
    ) -> Person:
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        context.set_default_timeout(TIMEOUT_MS)
        page = await context.new_page()
        person = cls(new_username(prefix), base_url, context, page)
        page.on("pageerror", lambda error: person.script_errors.append(str(error)))
        page.on("websocket", lambda socket: person.socket_urls.append(socket.url))
        await page.goto(base_url + "/")
        # The app has started (its modules loaded, the session checked) when a view shows.
        await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        return person

    async def sign_up(self) -> None:
        page = self.page
        await page.get_by_role("link", name="Create an account").click()
        await page.get_by_role("textbox", name="Username", exact=True).fill(self.username)
        await page.get_by_role("textbox", name="Email").fill(f"{self.username}@example.com")
        await page.locator("#signup-password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign up").click()
        await expect(page.get_by_role("heading", name="Timeline", exact=True)).to_be_visible()
        await expect(page.locator("#session-username")).to_have_text(self.username)

    async def go(self, section: str) -> None:
        """Follow a link of the main navigation, whose name carries an unread count when
        there is one ("Chat (1 unread)"): whether a message counts as unread when it arrives
        is the page's to decide, not the step's."""
        nav = self.page.get_by_role("navigation", name="Main")
        name = re.compile(rf"^{re.escape(section)}( \(\d+\+? unread\))?$")
        await nav.get_by_role("link", name=name).click()

    async def post(self, text: str) -> None:
        await self.page.get_by_role("textbox", name="Write a post").fill(text)
        await self.page.get_by_role("button", name="Post", exact=True).click()
        await expect(self.feed_post(text)).to_have_count(1)

    def feed_post(self, text: str) -> Locator:
        return self.page.locator("#feed .post .content").filter(has_text=text)

    # ---- chat ----

    @property
    def connection(self) -> Locator:
        return self.page.locator("#connection")

    @property
    def members(self) -> Locator:
        return self.page.locator("#members")

    def message(self, text: str) -> Locator:
        """Messages whose content is exactly `text` (a count of 1 means shown once)."""
        return self.page.locator("#messages > li .content").get_by_text(text, exact=True)

    async def send(self, text: str) -> None:
        box = self.page.get_by_role("textbox", name="Message")
        await box.fill(text)
        await box.press("Enter")

    async def last_message_id(self) -> int:
        value = await self.page.locator("#messages > li[data-message-id]").last.get_attribute(
            "data-message-id"
        )
        assert value is not None
        return int(value)

    async def api_post(self, path: str, data: object | None = None) -> dict[str, object]:
        """POST to the API with this person's cookie (and the page's Origin): the JSON body."""
        response = await self.context.request.post(
            f"{self.base_url}{path}", data=data, headers={"Origin": self.base_url}
        )
        assert response.status in (200, 201), await response.text()
        body = await response.json()
        assert isinstance(body, dict)
        return body

    async def join(self, room_id: str) -> None:
        """Open a room by its address and wait until it is live."""
        await self.page.goto(f"{self.base_url}/#/chat/{room_id}")
        await expect(self.connection).to_have_attribute("data-state", "live")

    async def create_room(self, name: str) -> str:
        """Create a public room through the API and open it: its id."""
        room = await self.api_post("/chat/ws/createRoom", {"name": name})
        await self.join(str(room["id"]))
        await expect(self.page.get_by_role("heading", name=name, level=1)).to_be_visible()
        return str(room["id"])

    async def close(self) -> None:
        await self.context.close()
        assert not self.script_errors, f"script errors in the page: {self.script_errors}"


async def alice_and_bob(browser: Browser, base_url: str) -> tuple[Person, Person]:
    """Two people signed up, each in their own browser context."""
    alice = await Person.open(browser, base_url, "alice")
    bob = await Person.open(browser, base_url, "bob")
    await alice.sign_up()
    await bob.sign_up()
    return alice, bob


async def assert_accessible(page: Page, view: str) -> None:
    """No axe-core violation in the page as it is now (run inside the page, from the copy of
    axe-core bundled in the Python package: nothing is fetched)."""
    results = await Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_RULES}})
    details = [
        f"{violation['id']}: {[node['target'] for node in violation['nodes']]}"
        for violation in results.response["violations"]
    ]
    assert results.violations_count == 0, f"{view}: {details}"


async def tab_to(page: Page, selector: str, *, limit: int = 40, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `selector` has focus: proof that it is reachable by
    keyboard, in the page's focus order."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        await page.keyboard.press(key)
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    focused = await page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"{selector} not reached with {key}; focus is on {focused}")


async def focused(page: Page, selector: str) -> bool:
    return bool(await page.evaluate("(s) => document.activeElement.matches(s)", selector))
