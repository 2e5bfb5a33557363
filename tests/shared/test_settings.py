from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.settings import Settings, describe_error


def run_gochat(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GOCHAT_")}
    return subprocess.run(
        [sys.executable, "-m", "gochat.cli", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_defaults_are_the_embedded_development_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GOCHAT_"):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.env == "development"
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None
    assert settings.port == 8000


def test_origins_are_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOCHAT_ALLOWED_ORIGINS", "https://a.example/, https://b.example")
    assert Settings(_env_file=None).allowed_origins == (  # type: ignore[call-arg]
        "https://a.example",
        "https://b.example",
    )


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"port": "99999"}, "GOCHAT_PORT"),
        ({"database_url": "mysql://x"}, "GOCHAT_DATABASE_URL"),
        ({"login_failure_limit": "often"}, "GOCHAT_LOGIN_FAILURE_LIMIT"),
        ({"env": "staging"}, "GOCHAT_ENV"),
    ],
)
def test_bad_settings_are_named(values: dict[str, str], names: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]
    line = describe_error(info.value)
    assert names in line
    assert "\n" not in line


def test_production_refuses_to_run_without_configured_keys() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None, env="production")  # type: ignore[call-arg]
    assert "GOCHAT_JWT_PUBLIC_KEY_FILE" in describe_error(info.value)


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = run_gochat("migrate", env={"GOCHAT_PORT": "not-a-port"}, cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gochat: invalid settings: GOCHAT_PORT")


def test_service_refuses_a_database_behind_the_code(tmp_path: Path) -> None:
    env = {
        "GOCHAT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/empty.db",
        "GOCHAT_DATA_DIR": str(tmp_path),
    }
    result = run_gochat("serve", "auth", "--port", "1", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "gochat: database schema is not up to date (at empty); run `gochat migrate` first"
    )
    migrated = run_gochat("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "latest schema" in migrated.stdout


def test_dev_server_allows_its_own_origin_wherever_it_listens() -> None:
    from gochat.cli import with_own_origin

    base = Settings(_env_file=None, allowed_origins="https://chat.example")  # type: ignore[call-arg]
    moved = with_own_origin(base, host="127.0.0.1", port=9011)
    assert moved.allowed_origins == (
        "https://chat.example",
        "http://127.0.0.1:9011",
        "http://localhost:9011",
    )
    assert with_own_origin(base, host="10.0.0.5", port=80).allowed_origins[-1] == (
        "http://10.0.0.5:80"
    )
