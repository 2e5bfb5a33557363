"""docker-compose.yml, checked without a Docker engine: against the Compose Specification's
JSON schema, then for the topology the README promises."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gochat.stack import GATEWAY_TEMPLATE
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

# The schema as check-jsonschema vendors it (builtin_schemas/vendor/compose-spec.json, from
# the compose-spec/compose-spec repository's schema/compose-spec.json); which release of
# check-jsonschema, and so of the schema, requirements.lock pins.
SCHEMA_SOURCE = "check-jsonschema " + importlib.metadata.version("check-jsonschema")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def compose_schema() -> dict[str, Any]:
    vendored = importlib.resources.files("check_jsonschema") / "builtin_schemas/vendor"
    schema: dict[str, Any] = json.loads((vendored / "compose-spec.json").read_text())
    return schema


def test_the_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any],
) -> None:
    validator = jsonschema.Draft202012Validator(
        compose_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == [], f"invalid per {SCHEMA_SOURCE}: {errors}"


def test_the_schema_check_would_catch_a_mistake(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["ws"]["depends_on"]["migrate"]["condition"] = "service_done"
    broken["services"]["auth"]["restart"] = "sometimes"
    validator = jsonschema.Draft202012Validator(compose_schema())
    assert len(list(validator.iter_errors(broken))) >= 2


def test_services_wait_for_the_one_shot_migration_and_redis(services: dict[str, Any]) -> None:
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("auth", "user", "ws"):
        assert services[name]["command"] == ["serve", name]
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])


def test_postgres_keeps_its_data_and_reports_health(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    postgres = services["postgres"]
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_one_published_port_and_two_ws_replicas(services: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert list(published) == ["gateway"]
    assert len(published["gateway"]) == 1
    assert services["ws"]["deploy"]["replicas"] == 2


def test_only_the_auth_service_gets_the_private_key(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    holders = {name for name, s in services.items() if "jwt_private_key" in s.get("secrets", [])}
    assert holders == {"auth"}
    assert "GOCHAT_JWT_PRIVATE_KEY_FILE" in services["auth"]["environment"]
    for name in ("user", "ws", "web", "migrate"):
        assert "GOCHAT_JWT_PRIVATE_KEY_FILE" not in services[name]["environment"]
    for name in ("jwt_private_key", "jwt_public_key"):
        assert compose["secrets"][name]["file"].startswith("./deploy/secrets/")


def test_no_working_secret_is_committed() -> None:
    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return run.stdout

    tracked = git("ls-files").split()
    assert not [path for path in tracked if path.startswith("deploy/secrets/")]
    assert ".env" not in tracked
    assert git("grep", "-lE", "-----BEGIN [A-Z ]*PRIVATE KEY-----") == ""


def test_the_gateway_fills_every_placeholder_of_the_shared_template(
    services: dict[str, Any],
) -> None:
    gateway = services["gateway"]
    mounted = gateway["volumes"][0].split(":")
    assert ROOT / mounted[0] == GATEWAY_TEMPLATE
    assert mounted[1].startswith("/etc/nginx/templates/")
    placeholders = set(re.findall(r"\$\{(GATEWAY_[A-Z_]+)\}", GATEWAY_TEMPLATE.read_text()))
    assert placeholders == set(gateway["environment"])


def test_env_example_lists_every_setting() -> None:
    listed = set(
        re.findall(r"^#?\s*(GOCHAT_[A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    settings = {f"GOCHAT_{name.upper()}" for name in Settings.model_fields}
    assert settings <= listed, f"missing from .env.example: {sorted(settings - listed)}"
    compose_only = {
        "GOCHAT_GATEWAY_ADDRESS",
        "GOCHAT_GATEWAY_PORT",
        "GOCHAT_IMAGE_TAG",
        "GOCHAT_BUILD_PIP_CA_FILE",
        "GOCHAT_BUILD_PIP_INDEX_URL",
    }
    assert listed - settings == compose_only


def test_the_web_client_container_gets_no_database_password(services: dict[str, Any]) -> None:
    web = services["web"]
    assert web["command"] == ["serve", "web"]
    assert web["env_file"] == []
    assert "GOCHAT_DATABASE_URL" not in web["environment"]


def test_the_image_is_built_once_and_run_by_every_gochat_service(
    services: dict[str, Any],
) -> None:
    gochat = {name for name, s in services.items() if s["image"].startswith("gochat:")}
    assert gochat == {"migrate", "auth", "user", "ws", "web"}
    assert {name for name, s in services.items() if "build" in s} == {"migrate"}
    for name in gochat - {"migrate"}:
        assert services[name]["pull_policy"] == "never"


def test_the_gateway_has_a_health_check_of_its_own(services: dict[str, Any]) -> None:
    check = " ".join(services["gateway"]["healthcheck"]["test"])
    assert "127.0.0.1:8080/healthz" in check
    assert "location = /healthz" in GATEWAY_TEMPLATE.read_text()


def pins(lock: Path) -> dict[str, str]:
    found = re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", lock.read_text(), re.M)
    return dict(found)


def test_the_image_lock_pins_what_the_full_lock_pins_and_no_tool() -> None:
    """requirements-runtime.lock is compiled against requirements.lock (`make lock`)."""
    runtime = pins(ROOT / "requirements-runtime.lock")
    everything = pins(ROOT / "requirements.lock")
    assert {name: everything.get(name) for name in runtime} == runtime
    assert not {"pytest", "mypy", "ruff", "playwright", "matplotlib", "numpy"} & set(runtime)
    assert {"fastapi", "uvicorn", "asyncpg", "setuptools"} <= set(runtime)
