from __future__ import annotations

from fastapi import FastAPI

from shared.service_app import build_service_app
from shared.settings import Settings, load_settings
from user_service.accounts.router import router as accounts
from user_service.blocks.router import router as blocks
from user_service.feed.router import router as feed
from user_service.follows.router import router as follows
from user_service.likes.router import router as likes
from user_service.notifications.router import router as notifications
from user_service.posts.router import router as posts
from user_service.profiles.router import router as profiles
from user_service.reposts.router import router as reposts
from user_service.tags.router import router as tags


def create_app(settings: Settings | None = None, *, own_runtime: bool = True) -> FastAPI:
    return build_service_app(
        name="user",
        settings=settings or load_settings(),
        routers=[
            accounts,
            follows,
            profiles,
            posts,
            likes,
            reposts,
            tags,
            feed,
            notifications,
            blocks,
        ],
        own_runtime=own_runtime,
        # Every GET here only reads (tests/user/test_read_requests.py holds them to it).
        reads_outside_transactions=True,
    )
