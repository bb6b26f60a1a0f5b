"""OpenAPI documents that tell the truth about errors: every one is `{"error", "message"}`.

FastAPI describes a validation failure as its own `HTTPValidationError` shape, which no
tenantry service ever sends (`http_errors.py` answers in the one error shape). Every service's
document is rewritten here so its 422s, and every other failure (`default`), name that shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA_NAME = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_SCHEMA_NAME,
    "type": "object",
    "description": "Every failure: a machine-readable reason code and a sentence for people.",
    "properties": {
        "error": {"type": "string", "description": "reason code, e.g. `token_missing`"},
        "message": {"type": "string"},
    },
    "required": ["error", "message"],
    "additionalProperties": False,
}
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}
_FASTAPI_ERROR_SCHEMAS = ("HTTPValidationError", "ValidationError")


def error_response(description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is the error shape."""
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def with_error_shape(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with its validation errors, and a `default` for every other failure, in the
    one error shape, and FastAPI's own error schemas gone."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = error_response("The request is not valid")
            responses.setdefault("default", error_response("Any other failure"))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_ERROR_SCHEMAS:
        schemas.pop(name, None)
    schemas[ERROR_SCHEMA_NAME] = ERROR_SCHEMA
    return document


def install_error_shape(app: FastAPI) -> None:
    """Make `app`'s `/openapi.json` describe its errors as they are (built once, then kept)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                routes=app.routes,
            )
            app.openapi_schema = with_error_shape(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
