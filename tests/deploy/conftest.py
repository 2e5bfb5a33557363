"""What the deployment tests need from the machine."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def nginx() -> str:
    """Debian's nginx. Missing in CI is a failure, never a skip: `.ci/run` installs it."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        message = "nginx is missing: apt-get install -y nginx"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found
