"""Whether an account belongs to the current site, asked of identity, which owns the accounts.

An issue's assignee must be an account of its site, so issues asks identity before it stores
one (`GET /internal/identity/accounts/{id}`, in the site's signed tenant context).
"""

from __future__ import annotations

import re

from tenantry.platform.client import ServiceClient
from tenantry.platform.context import current_tenant_token, require_tenant
from tenantry.platform.errors import ApiError

_ACCOUNT_ID = re.compile(r"^[0-9a-f]{32}$")
"""How identity writes account ids; anything else is no account of any site."""


class SiteAccounts:
    """identity's answer to "is this an account of the site?", for the current tenant."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def require_assignee(self, account_id: str) -> None:
        """Refuse (422 `unknown_assignee`) an id that is not an account of the current site."""
        if not _ACCOUNT_ID.fullmatch(account_id):
            raise _unknown(account_id)
        response = await self._client.call(
            "identity",
            "GET",
            "/internal/identity/accounts/{account_id}",
            params={"account_id": account_id},
            tenant_context=current_tenant_token.get(),
            tenant_id=require_tenant().cloud_id,
        )
        if response.status == 200:
            return
        if response.status in (404, 422):
            raise _unknown(account_id)
        raise ApiError(
            503,
            "identity_unavailable",
            "the account service could not say who the assignee is",
            {"Retry-After": "1"},
        )


def _unknown(account_id: str) -> ApiError:
    return ApiError(
        422, "unknown_assignee", f"the assignee {account_id!r} is not an account of this site"
    )
