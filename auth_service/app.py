from __future__ import annotations

from fastapi import FastAPI

from auth_service.router import router
from shared.service_app import build_service_app
from shared.settings import Settings, load_settings


def create_app(settings: Settings | None = None, *, own_runtime: bool = True) -> FastAPI:
    return build_service_app(
        name="auth",
        settings=settings or load_settings(),
        own_runtime=own_runtime,
        routers=[router],
        mint_tokens=True,
        hash_passwords=True,
    )
