"""Turn every failure a client can cause into `{"error", "message"}` with a fitting status.

FastAPI's defaults answer validation errors with a different shape and unexpected errors with a
bare 500; every tenantry service installs these handlers so clients meet one error contract.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from tenantry.platform.errors import ApiError

log = structlog.get_logger("tenantry.errors")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def error_response(error: ApiError) -> JSONResponse:
    """Render an ApiError as the one JSON error shape."""
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    code = (
        "malformed_json"
        if any(e.get("type") == "json_invalid" for e in exc.errors())
        else ("invalid_request")
    )
    return error_response(
        ApiError(422 if code == "invalid_request" else 400, code, "; ".join(problems))
    )


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    return error_response(ApiError(exc.status_code, code, str(exc.detail)))


async def _unexpected_error(_: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return error_response(ApiError(500, "internal_error", "an unexpected error occurred"))


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a FastAPI app can raise answer with the tenantry error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
