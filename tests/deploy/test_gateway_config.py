"""The gateway template that compose and `gochat stack` share: rendered, and linted by nginx
itself when it is installed (CI installs Debian's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gochat.stack import GATEWAY_TEMPLATE, Gateway, StackError, render_gateway_config


def test_rendering_fills_our_placeholders_and_leaves_nginx_variables() -> None:
    template = "listen ${GATEWAY_LISTEN}; proxy_set_header Host $host; ${GATEWAY_RESOLVER}"
    rendered = render_gateway_config(
        {"GATEWAY_LISTEN": "127.0.0.1:9", "GATEWAY_RESOLVER": ""}, template
    )
    assert rendered == "listen 127.0.0.1:9; proxy_set_header Host $host; "
    with pytest.raises(StackError, match="GATEWAY_LISTEN"):
        render_gateway_config({}, template)


@pytest.fixture
def gateway(nginx: str, tmp_path: Path) -> Gateway:
    """The stack's gateway configured for four services, two ws instances among them."""
    configured = Gateway(nginx, tmp_path / "nginx", error_log=tmp_path / "error.log")
    configured.configure(
        listen="127.0.0.1:8080",
        access_log=tmp_path / "access.log",
        upstreams={"auth": [8001], "user": [8002], "ws": [8003, 8004], "web": [8005]},
    )
    return configured


def test_nginx_accepts_the_gateway_config(gateway: Gateway) -> None:
    gateway.check()
    rendered = (gateway.prefix / "gochat.conf").read_text()
    assert not re.search(r"\$\{GATEWAY_[A-Z_]+\}", rendered)
    assert "server 127.0.0.1:8003; server 127.0.0.1:8004;" in rendered
    assert GATEWAY_TEMPLATE.read_text().count("location") == rendered.count("location")


def test_nginx_rejects_a_broken_config(gateway: Gateway) -> None:
    conf = gateway.prefix / "gochat.conf"
    conf.write_text(conf.read_text().replace("least_conn;", "least_conn"))
    with pytest.raises(StackError, match="nginx refused"):
        gateway.check()
