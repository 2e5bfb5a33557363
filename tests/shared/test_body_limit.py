"""Every service bounds request bodies itself (413 JSON), and a 422 lists a bounded number of
problems, whether or not a gateway stands in front."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from auth_service.app import create_app
from shared.errors import MAX_VALIDATION_ERRORS
from shared.settings import Settings
from tests.conftest import make_settings
from tests.support.servers import ThreadServer

LIMIT = 64 * 1024


def many_keys(count: int) -> bytes:
    return orjson.dumps({f"k{i}": i for i in range(count)})


@pytest.fixture(scope="module")
def auth_server(settings: Settings, data_dir: Path) -> Iterator[ThreadServer]:
    """A standalone auth service: no gateway, the app's own limit only."""
    own = make_settings(settings.database_url, data_dir)
    server = ThreadServer(create_app(own), own).start()
    yield server
    server.stop()


async def test_the_default_limit_is_64_kib(settings: Settings) -> None:
    assert settings.max_body_bytes == LIMIT


@pytest.mark.parametrize("prefix", ["dev", "standalone"])
async def test_a_body_of_500000_keys_is_413_without_being_read(
    dev_server: ThreadServer, auth_server: ThreadServer, prefix: str
) -> None:
    url = f"{dev_server.url}/auth/login" if prefix == "dev" else f"{auth_server.url}/login"
    body = many_keys(500_000)
    assert len(body) > 8_000_000
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json() == {"detail": f"request body is larger than {LIMIT} bytes"}
        assert response.headers["x-request-id"]
        # The service is not stalled: the next request is answered normally.
        assert (await http.get(url.rsplit("/", 1)[0] + "/")).status_code == 200


async def test_a_chunked_body_is_cut_off_at_the_limit(auth_server: ThreadServer) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(40):  # 160 KiB, no Content-Length
            yield b"x" * 4096
        yield b'", "password": "whatever"}'

    async with httpx.AsyncClient(base_url=auth_server.url, timeout=30) as http:
        response = await http.post(
            "/login", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["detail"] == f"request body is larger than {LIMIT} bytes"


async def test_a_422_lists_a_bounded_number_of_errors(auth_server: ThreadServer) -> None:
    body = many_keys(5_000)  # under 64 KiB, 5,000 forbidden keys
    assert len(body) < LIMIT
    async with httpx.AsyncClient(base_url=auth_server.url, timeout=30) as http:
        response = await http.post(
            "/login", content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert len(response.json()["detail"]) == MAX_VALIDATION_ERRORS


async def test_the_limit_is_a_setting(settings: Settings, data_dir: Path) -> None:
    small = make_settings(settings.database_url, data_dir, max_body_bytes=1024)
    server = ThreadServer(create_app(small), small).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            big = {"email": "x" * 1100, "password": "whatever"}
            assert (await http.post("/login", json=big)).status_code == 413
            fine = {"email": "nobody@example.com", "password": "whatever"}
            assert (await http.post("/login", json=fine)).status_code == 401
    finally:
        server.stop()
