"""The browser client: static files served at `/` by GoChat itself (no CDN, no build step).

The client talks to the services over the same origin (`/auth`, `/users`, `/chat`), so the
HttpOnly `auth_token` cookie authenticates its requests and its websocket alike. Its files sit
next to this module, which is how `package-data` installs them with the package.
"""

from __future__ import annotations

from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.routing import Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

CLIENT_DIR = Path(__file__).parent
# Only the client's own files are served from the package directory, never its Python.
SERVED_SUFFIXES = frozenset({".html", ".css", ".js", ".svg"})

# Everything the page loads comes from this origin; `connect-src 'self'` covers the same-origin
# websocket too. No inline script or style, so a stored message can never run as code.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load (ETag / Last-Modified make that a 304), so an upgrade of
    # GoChat never leaves a browser running yesterday's app.js against today's API.
    "Cache-Control": "no-cache",
}


class WebClient:
    """The client's files (ETag, 304s, HEAD) with the security headers on every response."""

    def __init__(self, directory: Path) -> None:
        self.files = StaticFiles(directory=directory, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.files(scope, receive, send_with_headers)


def web_client_routes(directory: Path = CLIENT_DIR) -> list[Route]:
    """`/` (index.html) and one route per client file. Exact paths rather than a catch-all
    mount, so every other path keeps the router's behaviour: the services' mounts, `/docs`,
    slash redirects, JSON 404s."""
    client = WebClient(directory)
    names = sorted(path.name for path in directory.iterdir() if path.suffix in SERVED_SUFFIXES)
    return [Route("/", client, name="web"), *(Route(f"/{name}", client) for name in names)]
