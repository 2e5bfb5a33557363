"""The chat service's dependency, declared once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from ws_service.chat import Chat


def get_chat(connection: HTTPConnection) -> Chat:
    chat: Chat = connection.app.state.chat
    return chat


ChatDep = Annotated[Chat, Depends(get_chat)]
