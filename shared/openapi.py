"""Each service's OpenAPI document made exact: every error status an operation really returns
is documented, all with the one error schema (`{"detail": ...}`), and every protected
operation names the bearer and cookie schemes (declared by `shared.deps.current_user`).

Routers declare what is theirs (a 404, a 409, a 429); what every operation of a kind shares
is added here once, from the same rules the code follows:

- any operation but liveness: 503 (the database, Redis or the password threads are busy or
  away);
- a protected one: 401; one that changes state: 403 too (a cookie from a foreign origin);
- one with a body: 400 (not UTF-8), 413 (over `GOCHAT_MAX_BODY_BYTES`), 422;
- one with parameters: 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

ERROR_SCHEMA = "ErrorOut"
UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})
DESCRIPTIONS = {
    400: "The body could not be read (not UTF-8 text).",
    401: "No token, a bad or expired one, or its session has ended.",
    403: "Not allowed.",
    404: "Not found.",
    409: "Conflict.",
    413: "The body is larger than `GOCHAT_MAX_BODY_BYTES`.",
    422: "The input is not valid (`detail` lists at most 20 problems, or says which input).",
    429: "Throttled; see `Retry-After`.",
    503: "Busy, or a dependency is away; see `Retry-After`.",
}


class ValidationProblem(BaseModel):
    type: str
    loc: list[str | int]
    msg: str


class ErrorOut(BaseModel):
    """Every error: a sentence, or for invalid input the list of what is wrong."""

    detail: str | list[ValidationProblem]


def error_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: these statuses with the error schema (a description may be
    given by status, as `_404="no such post"`)."""
    return {
        status: {
            "model": ErrorOut,
            "description": descriptions.get(f"_{status}", DESCRIPTIONS.get(status, "Error.")),
        }
        for status in statuses
    }


def install_exact_openapi(app: FastAPI, *, liveness_path: str = "/") -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _complete(schema, liveness_path=liveness_path)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(schema: dict[str, Any], *, liveness_path: str) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA] = ErrorOut.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components.update(components[ERROR_SCHEMA].pop("$defs", {}))
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    error_content = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            statuses: set[int] = set()
            if path != liveness_path:
                statuses.add(503)
            if operation.get("security"):
                statuses.add(401)
                if method in UNSAFE_METHODS:
                    statuses.add(403)
            if "requestBody" in operation:
                statuses |= {400, 413, 422}
            if operation.get("parameters"):
                statuses.add(422)
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and not _has_own_schema(response):
                    response["content"] = error_content
                    if not response.get("description"):
                        response["description"] = DESCRIPTIONS.get(int(status), "Error.")


def _has_own_schema(response: dict[str, Any]) -> bool:
    """A documented error body other than FastAPI's validation one (e.g. `/readyz`'s 503)."""
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return bool(ref) and not ref.endswith(("/HTTPValidationError", f"/{ERROR_SCHEMA}"))
