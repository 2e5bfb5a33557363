"""The non-awaiting frame writer is tied to one uvicorn version: the lock must pin it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import uvicorn

from ws_service import transport

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"


def test_the_lock_pins_the_uvicorn_version_the_writer_was_written_for() -> None:
    pinned = re.search(r"^uvicorn==([^\s\\]+)", LOCK.read_text(), re.MULTILINE)
    assert pinned is not None
    assert pinned.group(1) == transport.TESTED_UVICORN == uvicorn.__version__


def test_another_uvicorn_gets_the_stock_protocol(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert transport.websocket_protocol() is transport.GoChatWebSocketProtocol
    monkeypatch.setattr(uvicorn, "__version__", "99.0.0")
    assert transport.websocket_protocol() == "websockets-sansio"
    assert "plain ASGI sends" in caplog.text
