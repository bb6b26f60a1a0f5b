"""`tenantry keys owner`: make an admin account the owner of a region's root key.

An owner is an identity account, and accounts belong to sites, so the operator names both:
`tenantry keys owner --region eu --site acme 3f2a...`. The command asks tcs for the site's
signed tenant context, asks identity (in that context) whether the site has the account and
whether it is an admin, and only then tells the region's kms. The account id is the one
`GET /rest/identity/accounts` lists.
"""

from __future__ import annotations

from typing import Any

from tenantry.platform.client import ServiceClient, ServiceResponse

OWNER_ROLE = "admin"


class OwnerRefused(Exception):
    """The owner cannot be set; the message says why."""


async def set_owner(client: ServiceClient, region: str, site: str, account: str) -> dict[str, Any]:
    """Check that `account` is an admin of `site`, then make it the owner of `region`'s root key."""
    found = await client.call("tcs", "GET", "/tenants/by-site/{site}", params={"site": site})
    if found.status == 404:
        raise OwnerRefused(f"there is no site {site!r}")
    tenant = _ok(found, f"site {site!r}")
    checked = await client.call(
        "identity",
        "GET",
        "/internal/identity/accounts/{account_id}",
        params={"account_id": account},
        tenant_context=str(tenant["context"]),
        tenant_id=str(tenant["cloud_id"]),
    )
    if checked.status in (404, 422):
        raise OwnerRefused(f"site {site!r} has no account {account!r}")
    role = _ok(checked, f"account {account!r}")["role"]
    if role != OWNER_ROLE:
        raise OwnerRefused(
            f"account {account!r} of {site!r} is a {role}; only an {OWNER_ROLE} can own a key"
        )
    stored = await client.call(
        "kms", "POST", "/kms/root-key/owner", json={"owner": account}, region=region
    )
    return _ok(stored, f"kms of {region}")


def _ok(response: ServiceResponse, what: str) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        document = {}
    if response.status != 200 or not isinstance(document, dict):
        message = document.get("message", "") if isinstance(document, dict) else ""
        raise OwnerRefused(f"{what}: status {response.status} {message}".rstrip())
    return document
