from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter
from starlette.routing import Mount

from gochat.dev import create_dev_app
from shared.errors import NotFound
from shared.service_app import build_service_app
from shared.settings import Settings
from tests.support.servers import ThreadServer

boom = APIRouter()


@boom.get("/boom")
async def explode() -> None:
    raise RuntimeError("secret internals")


@boom.get("/missing")
async def missing() -> None:
    raise NotFound("no such thing")


@pytest.fixture(scope="module")
def boom_server(settings: Settings) -> Iterator[ThreadServer]:
    app = build_service_app(name="auth", settings=settings, routers=[boom])
    server = ThreadServer(app, settings).start()
    yield server
    server.stop()


async def test_unexpected_error_is_500_json_with_request_id_and_logged(
    boom_server: ThreadServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="gochat.errors")
    async with httpx.AsyncClient(base_url=boom_server.url) as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "secret internals" not in response.text
    request_id = response.headers["x-request-id"]
    assert len(request_id) >= 8
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert logged and logged[0].exc_info is not None


async def test_request_id_is_kept_when_sane_and_replaced_when_not(
    boom_server: ThreadServer,
) -> None:
    async with httpx.AsyncClient(base_url=boom_server.url) as http:
        kept = await http.get("/", headers={"X-Request-ID": "abc123-def456"})
        assert kept.headers["x-request-id"] == "abc123-def456"
        replaced = await http.get("/", headers={"X-Request-ID": "bad id\twith spaces"})
        assert replaced.headers["x-request-id"] != "bad id\twith spaces"


async def test_domain_errors_and_unknown_routes_are_json(boom_server: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=boom_server.url) as http:
        missing = await http.get("/missing")
        assert missing.status_code == 404
        assert missing.json() == {"detail": "no such thing"}
        nowhere = await http.get("/nowhere")
        assert nowhere.status_code == 404
        assert nowhere.headers["content-type"] == "application/json"
        wrong_method = await http.delete("/")
        assert wrong_method.status_code == 405
        assert "detail" in wrong_method.json()


async def test_unexpected_error_under_the_all_in_one_app_is_the_same_json_500(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """`gochat dev` mounts the services in an outer app: a mounted service's own Starlette
    error middleware used to answer first, with `text/plain "Internal Server Error"`."""
    app = create_dev_app(settings)
    mounted = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/users")
    mounted.app.include_router(boom)  # type: ignore[union-attr]
    caplog.set_level(logging.ERROR, logger="gochat.errors")
    server = ThreadServer(app, settings).start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/users/boom", headers={"X-Request-ID": "dev-boom-123"})
    finally:
        server.stop()
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "internal error"}
    assert response.headers.get_list("x-request-id") == ["dev-boom-123"]
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "dev-boom-123"]
    assert len(logged) == 1 and logged[0].exc_info is not None


async def test_the_trailing_slash_redirect_does_not_trust_the_host_header(
    dev_server: ThreadServer,
) -> None:
    async with httpx.AsyncClient(base_url=dev_server.url) as http:
        for path, location in (("/auth/login/?x=1", "/auth/login?x=1"), ("/auth", "/auth/")):
            response = await http.post(path, headers={"Host": "evil.example"})
            assert response.status_code == 307
            assert response.headers["location"] == location


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/users/posts/1", "GET, DELETE"),
        ("POST", "/users/users/1", "GET"),
        ("GET", "/chat/ws/createRoom", "POST"),
        ("DELETE", "/auth/login", "POST"),
        ("PUT", "/users/metrics", "GET, HEAD"),
    ],
)
async def test_405_names_every_method_the_path_has(
    dev_server: ThreadServer, method: str, path: str, allow: str
) -> None:
    async with httpx.AsyncClient(base_url=dev_server.url) as http:
        response = await http.request(method, path)
    assert response.status_code == 405
    assert response.headers.get_list("allow") == [allow]
    assert response.json() == {"detail": "Method Not Allowed"}


@pytest.mark.parametrize(("env", "served"), [("development", True), ("production", False)])
async def test_api_docs_pages_are_served_in_development_only(
    settings: Settings, env: str, served: bool
) -> None:
    """The docs pages load their script from a public CDN; outside development they are off.
    The OpenAPI document itself is always there."""
    own = settings.model_copy(update={"env": env})
    app = build_service_app(name="user", settings=own, routers=[])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as http:
        for page in ("/docs", "/redoc"):
            assert (await http.get(page)).status_code == (200 if served else 404)
        assert (await http.get("/openapi.json")).status_code == 200
