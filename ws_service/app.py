from __future__ import annotations

from fastapi import FastAPI

from shared.service_app import build_service_app
from shared.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, own_runtime: bool = True) -> FastAPI:
    return build_service_app(
        name="ws",
        settings=settings or load_settings(),
        routers=[],
        own_runtime=own_runtime,
    )
