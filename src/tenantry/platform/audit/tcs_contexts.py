"""Where an outbox finds the signed context of the tenant whose events it delivers: tcs.

Kept apart from the outbox itself, so tcs (which signs contexts itself) does not make the call.
"""

from __future__ import annotations

import time

from tenantry.platform.audit.outbox import ContextSource
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.platform.tenant_context import TenantContextVerifier


def contexts_from_tcs(client: ServiceClient, verifier: TenantContextVerifier) -> ContextSource:
    """Tenant contexts as tcs signs them, looked up by cloud id (events of suspended and
    deleted tenants are delivered too)."""

    async def context_of(cloud_id: str) -> tuple[TenantContext, str]:
        found = await client.call(
            "tcs",
            "GET",
            "/internal/tcs/tenants/by-cloud-id/{cloud_id}",
            params={"cloud_id": cloud_id},
        )
        if found.status != 200:
            raise ApiError(503, "tenant_unknown", f"tcs answered {found.status} for {cloud_id}")
        context = str(found.json()["context"])
        return verifier.verify(context, time.time()), context

    return context_of
