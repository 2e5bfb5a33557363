"""SIGTERM, as an orchestrator stops a container: in-flight requests finish first."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from tests.support.servers import ProcessServer
from tests.support.users import PASSWORD, unique_name


async def test_sigterm_lets_the_requests_in_flight_finish(
    database_url: str, data_dir: Path
) -> None:
    env = {
        "GOCHAT_DATABASE_URL": database_url,
        "GOCHAT_DATA_DIR": str(data_dir),
        # One sign-up hashes for about a second: long enough to be caught in flight.
        "GOCHAT_ARGON2_MEMORY_KIB": str(128 * 1024),
        "GOCHAT_ARGON2_TIME_COST": "16",
    }
    server = ProcessServer(["serve", "auth"], env).start()
    try:
        assert server.proc is not None
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            name = unique_name("drain")
            body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
            in_flight = asyncio.create_task(http.post("/register", json=body))
            await asyncio.sleep(0.3)
            server.proc.send_signal(signal.SIGTERM)
            response = await in_flight
        assert response.status_code == 201, response.text
        # uvicorn re-raises the signal once it has shut down cleanly.
        assert await asyncio.to_thread(server.proc.wait, 15) in (0, -signal.SIGTERM)
    finally:
        server.stop()
