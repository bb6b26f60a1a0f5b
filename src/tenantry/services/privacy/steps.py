"""The stores an export or an erasure goes through, and the calls that reach each one's steps.

Every service whose personal-data declaration needs steps is named here (the policy check
compares this list with the registry, so a new store cannot be left out); identity comes first,
so an erasure that identity refuses (the site's last admin, an unknown account) changes nothing.
Each call carries the request's signed tenant context as it came.
"""

from __future__ import annotations

from typing import Any

from tenantry.platform.client import ServiceClient, ServiceResponse, for_current_tenant
from tenantry.platform.context import current_tenant_token, require_tenant
from tenantry.platform.errors import ApiError

STORES = ("identity", "issues", "pages", "analytics", "media")
"""Every store with export and erase steps, in the order an erasure runs them."""


def _identity() -> dict[str, Any]:
    """identity is global: the tenant's context, no region."""
    return {"tenant_context": current_tenant_token.get(), "tenant_id": require_tenant().cloud_id}


async def export_from(client: ServiceClient, store: str, account_id: str) -> dict[str, Any]:
    """What `store` holds about the account, as its export step answers it."""
    body = {"account_id": account_id}
    if store == "identity":
        response = await client.call(
            "identity", "POST", "/internal/identity/personal-data/export", json=body, **_identity()
        )
    elif store == "issues":
        response = await client.call(
            "issues",
            "POST",
            "/internal/issues/personal-data/export",
            json=body,
            **for_current_tenant(),
        )
    elif store == "pages":
        response = await client.call(
            "pages",
            "POST",
            "/internal/pages/personal-data/export",
            json=body,
            **for_current_tenant(),
        )
    elif store == "analytics":
        response = await client.call(
            "analytics",
            "POST",
            "/internal/analytics/personal-data/export",
            json=body,
            **for_current_tenant(),
        )
    else:
        response = await client.call(
            "media",
            "POST",
            "/internal/media/personal-data/export",
            json=body,
            **for_current_tenant(),
        )
    return answered(response, store)


async def erase_from(
    client: ServiceClient, store: str, account_id: str, content: str
) -> dict[str, Any]:
    """Erase the account from `store`; what it did, as its erase step answers it."""
    body = {"account_id": account_id, "content": content}
    if store == "identity":
        response = await client.call(
            "identity", "POST", "/internal/identity/personal-data/erase", json=body, **_identity()
        )
    elif store == "issues":
        response = await client.call(
            "issues",
            "POST",
            "/internal/issues/personal-data/erase",
            json=body,
            **for_current_tenant(),
        )
    elif store == "pages":
        response = await client.call(
            "pages",
            "POST",
            "/internal/pages/personal-data/erase",
            json=body,
            **for_current_tenant(),
        )
    elif store == "analytics":
        response = await client.call(
            "analytics",
            "POST",
            "/internal/analytics/personal-data/erase",
            json=body,
            **for_current_tenant(),
        )
    else:
        response = await client.call(
            "media",
            "POST",
            "/internal/media/personal-data/erase",
            json=body,
            **for_current_tenant(),
        )
    return answered(response, store)


async def account_of_site(client: ServiceClient, account_id: str) -> None:
    """Refuse (404 `account_not_found`) an account the site does not have."""
    response = await client.call(
        "identity",
        "GET",
        "/internal/identity/accounts/{account_id}",
        params={"account_id": account_id},
        **_identity(),
    )
    if response.status == 404:
        raise ApiError(404, "account_not_found", "the site has no such account")
    answered(response, "identity")


async def uploaded_file(client: ServiceClient, file_id: str, account_id: str) -> bytes:
    """The original of a file the account uploaded, for its export."""
    response = await client.call(
        "media",
        "GET",
        "/internal/media/personal-data/files/{file_id}/content",
        params={"file_id": file_id},
        query={"account_id": account_id},
        **for_current_tenant(),
    )
    if response.status != 200:
        raise ApiError(502, "store_failed", f"media did not hand over file {file_id}")
    return response.body


def answered(response: ServiceResponse, store: str) -> dict[str, Any]:
    """A step's JSON answer; its own refusal (4xx with a reason) passed on, else 502."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.status == 200 and isinstance(document, dict):
        return document
    if 400 <= response.status < 500 and isinstance(document, dict) and "error" in document:
        raise ApiError(response.status, str(document["error"]), str(document.get("message", "")))
    raise ApiError(502, "store_failed", f"{store} answered {response.status}")
