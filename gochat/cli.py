"""`gochat`: migrate the database, serve one service or all of them, make keys."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.routing import BaseRoute

from shared.database import create_engine
from shared.errors import install_error_handling
from shared.logs import configure_logging
from shared.schema import SchemaNotAtHead, ensure_at_head, upgrade_to_head
from shared.settings import Settings, describe_error
from shared.tokens import generate_key_pair, write_key_pair


def uvicorn_config(app: FastAPI, settings: Settings, *, host: str, port: int) -> uvicorn.Config:
    """Websocket defaults tightened: 64 KiB frames, no compression, pings that find dead
    peers, and the sans-I/O protocol with the chat service's non-awaiting frame writer."""
    from ws_service.delivery.transport import websocket_protocol

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws=websocket_protocol(),
        ws_max_size=64 * 1024,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_ping_timeout_seconds,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


def create_web_app(_settings: Settings) -> FastAPI:
    """The browser client's files, with their security headers, and nothing else: what the
    gateway serves at `/` (compose's `web`). No database, no keys."""
    from gochat.web import web_client_routes

    routes: list[BaseRoute] = [*web_client_routes()]
    app = FastAPI(
        title="GoChat web client",
        routes=routes,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handling(app)  # request ids in the access log, JSON 404s
    return app


def _service_factory(name: str) -> Callable[[Settings], FastAPI]:
    if name == "web":
        return create_web_app
    if name == "auth":
        from auth_service.app import create_app as auth

        return auth
    if name == "user":
        from user_service.app import create_app as user

        return user
    from ws_service.app import create_app as ws

    return ws


def with_own_origin(settings: Settings, *, host: str, port: int) -> Settings:
    """The page `gochat dev` serves must be allowed to open its own websockets, whatever port
    it was moved to."""
    names = {host}
    if host in ("127.0.0.1", "localhost", "0.0.0.0"):
        names |= {"127.0.0.1", "localhost"}
    own = tuple(f"http://{name}:{port}" for name in sorted(names - {"0.0.0.0"}))
    origins = tuple(dict.fromkeys(settings.allowed_origins + own))
    return settings.model_copy(update={"allowed_origins": origins})


async def _refuse_schema_behind(settings: Settings) -> None:
    """Raise `SchemaNotAtHead` before serving. A database that cannot be reached yet is no
    reason to stop: the service starts, retries in the background and says so at /readyz."""
    engine = create_engine(settings)
    try:
        await ensure_at_head(engine)
    except SchemaNotAtHead:
        raise
    except Exception:  # noqa: S110 - unreachable now; the runtime logs and retries
        pass
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gochat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    dev = commands.add_parser("dev", help="migrate, then serve all services on one port")
    serve = commands.add_parser("serve", help="serve one service")
    serve.add_argument("service", choices=["auth", "user", "ws", "web"])
    for sub in (dev, serve):
        sub.add_argument("--host", help="default: GOCHAT_HOST or 127.0.0.1")
        sub.add_argument("--port", type=int, help="default: GOCHAT_PORT or 8000")
    stack = commands.add_parser(
        "stack", help="run the compose topology as local processes behind nginx"
    )
    stack.add_argument("--port", type=int, default=8080, help="the gateway's port (8080)")
    stack.add_argument("--ws-instances", type=int, default=2, choices=range(1, 9))
    stack.add_argument("--run-dir", type=Path, default=Path("data/stack"), help="keys and logs")
    keygen = commands.add_parser("keygen", help="write a new ES256 key pair into DIR")
    keygen.add_argument("directory", type=Path)
    args = parser.parse_args(argv)

    if args.command == "keygen":
        write_key_pair(args.directory, generate_key_pair())
        print(f"wrote {args.directory}/jwt-private.pem and jwt-public.pem")
        print(f"docker compose runs it as uid 10001: chown 10001 {args.directory}/jwt-private.pem")
        return

    try:
        settings = Settings()
    except ValidationError as exc:
        sys.exit(f"gochat: {describe_error(exc)}")
    configure_logging(settings.log_level)

    if args.command == "migrate":
        upgrade_to_head(settings.database_url)
        print("gochat: database is at the latest schema")
        return

    if args.command == "stack":
        from gochat.stack import run_stack

        run_stack(gateway_port=args.port, ws_instances=args.ws_instances, run_dir=args.run_dir)
        return

    host = args.host or settings.host
    port = args.port or settings.port
    if args.command == "dev":
        from gochat.dev import create_dev_app

        upgrade_to_head(settings.database_url)
        settings = with_own_origin(settings, host=host, port=port)
        app = create_dev_app(settings)
    else:
        if args.service != "web":  # the web client's files need no database
            try:
                asyncio.run(_refuse_schema_behind(settings))
            except SchemaNotAtHead as exc:
                sys.exit(f"gochat: {exc}")
        app = _service_factory(args.service)(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, host=host, port=port))
    try:
        server.run()
    except RuntimeError as exc:  # start-up refusals (schema behind, bad keys) read as one line
        sys.exit(f"gochat: {exc}")
    except KeyboardInterrupt:  # Ctrl-C: uvicorn shut down cleanly, then re-raised it
        sys.exit(130)
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
