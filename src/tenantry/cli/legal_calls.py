"""What `tenantry legal` asks of a running cloud: the transparency register at tcs."""

from __future__ import annotations

from typing import Any

from tenantry.cli.site_calls import OperatorCallFailed
from tenantry.platform.client import ServiceClient, ServiceResponse


def _document(response: ServiceResponse, step: str, expected: int = 200) -> dict[str, Any]:
    """The JSON answer of a call that succeeded; `OperatorCallFailed` with tcs's reason."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status == expected and isinstance(document, dict):
        return document
    if isinstance(document, dict) and "error" in document:
        raise OperatorCallFailed(f"{step}: {document['error']}: {document.get('message', '')}")
    raise OperatorCallFailed(f"{step} answered {response.status}")


async def add_request(client: ServiceClient, fields: dict[str, Any]) -> dict[str, Any]:
    """Record a new request; the request as the register keeps it."""
    response = await client.call("tcs", "POST", "/internal/tcs/legal/requests", json=fields)
    return _document(response, "record the request", 201)


async def update_request(
    client: ServiceClient, request_id: int, change: dict[str, Any]
) -> dict[str, Any]:
    """Apply a change to a request; the request as it now stands."""
    response = await client.call(
        "tcs",
        "PATCH",
        "/internal/tcs/legal/requests/{request_id}",
        params={"request_id": str(request_id)},
        json=change,
    )
    return _document(response, f"request {request_id}")


async def show_request(client: ServiceClient, request_id: int) -> dict[str, Any]:
    """One request as it stands."""
    response = await client.call(
        "tcs",
        "GET",
        "/internal/tcs/legal/requests/{request_id}",
        params={"request_id": str(request_id)},
    )
    return _document(response, f"request {request_id}")


async def list_requests(client: ServiceClient, year: int | None) -> list[dict[str, Any]]:
    """Every request, or those received in `year`."""
    query = {} if year is None else {"year": str(year)}
    response = await client.call("tcs", "GET", "/internal/tcs/legal/requests", query=query)
    requests: list[dict[str, Any]] = _document(response, "list the requests")["requests"]
    return requests
