"""`tenantry keys owner` and `keys rotate --owner`: an active admin account owns a root key.

An owner is an identity account, and accounts belong to sites, so the operator names both:
`tenantry keys owner --region eu --site acme 3f2a...`. The command asks tcs for the site's
signed tenant context, asks identity (in that context) whether the site has the account,
whether it is an admin and whether it is active, and only then tells the region's kms. The
account id is the one `GET /rest/identity/accounts` lists. `keys rotate --owner` makes the
same check before it rotates.
"""

from __future__ import annotations

from typing import Any

from tenantry.cli.site_calls import OperatorCallFailed, answer, site_context
from tenantry.platform.client import ServiceClient
from tenantry.platform.users import ADMIN

OWNER_ROLE = ADMIN


async def set_owner(client: ServiceClient, region: str, site: str, account: str) -> dict[str, Any]:
    """Check that `account` is an admin of `site`, then make it the owner of `region`'s root key."""
    await check_owner(client, site, account)
    stored = await client.call(
        "kms", "POST", "/internal/kms/root-key/owner", json={"owner": account}, region=region
    )
    return answer(stored, f"kms of {region}")


async def check_owner(client: ServiceClient, site: str, account: str) -> None:
    """`OperatorCallFailed` unless `account` is an active admin of `site`."""
    tenant = await site_context(client, site)
    checked = await client.call(
        "identity",
        "GET",
        "/internal/identity/accounts/{account_id}",
        params={"account_id": account},
        tenant_context=tenant.context,
        tenant_id=tenant.cloud_id,
    )
    if checked.status in (404, 422):
        raise OperatorCallFailed(f"site {site!r} has no account {account!r}")
    found = answer(checked, f"account {account!r}")
    role = found["role"]
    if role != OWNER_ROLE:
        raise OperatorCallFailed(
            f"account {account!r} of {site!r} is a {role}; only an {OWNER_ROLE} can own a key"
        )
    if found.get("active") is not True:
        raise OperatorCallFailed(
            f"account {account!r} of {site!r} is deactivated; only an active admin can own a key"
        )
