"""One error shape for every API: an HTTP status, a machine-readable reason code and a message."""

from __future__ import annotations


class ApiError(Exception):
    """An error a client is meant to see: `{"error": code, "message": message}` with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        """The JSON body every tenantry error response carries."""
        return {"error": self.code, "message": self.message}


def not_found(what: str) -> ApiError:
    """The answer for anything that does not exist for this tenant (or belongs to another)."""
    return ApiError(404, "not_found", f"{what} was not found")
