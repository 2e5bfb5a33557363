"""The web client's browser tests: Debian's Chromium driven by Playwright against a real
`gochat dev` process (its own SQLite database and data folder), on a port whose origin is
the one allowed origin."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.support.servers import ProcessServer, free_port
from tests.web.pages import TIMEOUT_MS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Chromium from Debian's package (Playwright's own download does not work here). Missing
    in CI is a failure, never a skip: `.ci/run` installs it."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessServer]:
    """`gochat dev` in a child process, so a test can stop and restart it on the same port
    and database. The browser's origin is this port's, so it is the allowed origin."""
    data_dir = tmp_path_factory.mktemp("web")
    port = free_port()
    env = {
        "GOCHAT_ENV": "test",
        "GOCHAT_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir}/gochat.db",
        "GOCHAT_DATA_DIR": str(data_dir),
        "GOCHAT_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
        "GOCHAT_LOG_LEVEL": "warning",
        "GOCHAT_ARGON2_MEMORY_KIB": "1024",
        "GOCHAT_ARGON2_TIME_COST": "1",
        "GOCHAT_REGISTER_LIMIT": "1000/minute",
    }
    server = ProcessServer(["dev"], env, port=port).start()
    yield server
    server.stop()


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
