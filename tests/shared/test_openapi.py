"""The OpenAPI documents are exact: bearer and cookie on every protected operation, one error
schema for every error status, examples for every request body."""

from __future__ import annotations

from typing import Any

import pytest

from auth_service.app import create_app as create_auth_app
from shared.settings import Settings
from user_service.app import create_app as create_user_app
from ws_service.app import create_app as create_ws_app

PUBLIC = {("auth", "/register"), ("auth", "/login"), ("auth", "/.well-known/jwks.json")}


def documents(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "auth": create_auth_app(settings).openapi(),
        "user": create_user_app(settings).openapi(),
        "ws": create_ws_app(settings).openapi(),
    }


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.fixture(scope="module")
def specs(settings: Settings) -> dict[str, dict[str, Any]]:
    return documents(settings)


def test_every_protected_operation_names_bearer_and_cookie(
    specs: dict[str, dict[str, Any]],
) -> None:
    for service, document in specs.items():
        schemes = document["components"]["securitySchemes"]
        assert schemes["HTTPBearer"] == {
            "type": "http",
            "scheme": "bearer",
            "description": schemes["HTTPBearer"]["description"],
        }
        assert schemes["APIKeyCookie"]["in"] == "cookie"
        assert schemes["APIKeyCookie"]["name"] == "auth_token"
        for path, method, operation in operations(document):
            if path in ("/", "/readyz") or (service, path) in PUBLIC:
                assert "security" not in operation, (service, path)
                continue
            assert operation["security"] == [{"HTTPBearer": []}, {"APIKeyCookie": []}], path
            assert {"401", "503"} <= set(operation["responses"]), (service, path, method)
            if method in ("post", "delete"):
                assert "403" in operation["responses"], (service, path, method)


def test_every_error_status_uses_the_one_error_schema(specs: dict[str, dict[str, Any]]) -> None:
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for service, document in specs.items():
        assert "HTTPValidationError" not in document["components"]["schemas"]
        for path, method, operation in operations(document):
            for status, response in operation["responses"].items():
                if int(status) < 400 or (path == "/readyz" and status == "503"):
                    continue
                schema = response["content"]["application/json"]["schema"]
                assert schema == error, (service, path, method, status)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(operation["responses"]), path


def test_every_request_body_has_an_example(specs: dict[str, dict[str, Any]]) -> None:
    for document in specs.values():
        schemas = document["components"]["schemas"]
        for _path, _method, operation in operations(document):
            if "requestBody" not in operation:
                continue
            schema = operation["requestBody"]["content"]["application/json"]["schema"]
            # An optional body (a ban's reason) is `anyOf: [the model, null]`.
            refs = (
                [schema["$ref"]]
                if "$ref" in schema
                else [option["$ref"] for option in schema["anyOf"] if "$ref" in option]
            )
            assert refs, schema
            for ref in refs:
                assert schemas[ref.rsplit("/", 1)[1]]["examples"], ref
