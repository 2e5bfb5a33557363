"""Serving the web client: its files at `/` with their security headers, nothing else from
the package directory, and every other path left to the services."""

from __future__ import annotations

import re

import httpx

from gochat.web import CLIENT_DIR

IMPORT = re.compile(r"""from\s+["']\./([\w.-]+)["']""")
REFERENCE = re.compile(r"""(?:src|href)="/([\w.-]+)\"""")


async def test_index_is_served_at_the_root_with_a_strict_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"


async def test_every_file_the_page_loads_is_served_from_this_origin(
    client: httpx.AsyncClient,
) -> None:
    """index.html's scripts, styles and icons, and every module the scripts import."""
    index = (await client.get("/")).text
    wanted = set(REFERENCE.findall(index))
    for script in CLIENT_DIR.glob("*.js"):
        wanted |= set(IMPORT.findall(script.read_text()))
    assert {"app.js", "style.css", "icon.svg", "api.js", "room-connection.js"} <= wanted
    for name in sorted(wanted):
        response = await client.get(f"/{name}")
        assert response.status_code == 200, name
    assert (await client.get("/app.js")).headers["content-type"].split(";")[0] in {
        "text/javascript",
        "application/javascript",
    }
    # Nothing in the page comes from elsewhere.
    assert "//" not in "".join(re.findall(r"""(?:src|href)="([^"#]*)\"""", index))


async def test_unchanged_files_answer_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/style.css")
    again = await client.get("/style.css", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_the_package_python_is_not_served(client: httpx.AsyncClient) -> None:
    for path in ("/__init__.py", "/__pycache__/", "/web/__init__.py", "/nothing.js"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}


async def test_the_services_and_their_docs_keep_their_paths(client: httpx.AsyncClient) -> None:
    assert (await client.get("/auth/")).json() == {"service": "auth", "status": "ok"}
    assert (await client.get("/chat/")).json() == {"service": "ws", "status": "ok"}
    assert (await client.get("/auth")).status_code == 307  # the usual slash redirect
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.post("/")).status_code == 405
