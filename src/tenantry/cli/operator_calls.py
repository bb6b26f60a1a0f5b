"""Admin operations the CLI performs on a running cloud, signed with the operator's key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tenantry.platform.client import ServiceClient, ServiceResponse
from tenantry.platform.directory import ServiceDirectory
from tenantry.platform.keys import load_service_key
from tenantry.platform.tokens import TokenSigner

OPERATOR = "operator"


async def _call(data_dir: Path, method: str, route: str, **kwargs: Any) -> ServiceResponse:
    signer = TokenSigner(load_service_key(data_dir, OPERATOR))
    client = ServiceClient(signer, ServiceDirectory.load(data_dir), timeout=5.0, retries=0)
    try:
        return await client.call("tcs", method, route, **kwargs)
    finally:
        await client.close()


def set_tenant_status(data_dir: Path, site: str, status: str) -> ServiceResponse:
    """Suspend or resume a site through tcs."""
    return asyncio.run(
        _call(
            data_dir,
            "POST",
            "/tenants/{site}/status",
            params={"site": site},
            json={"status": status},
        )
    )


def tenant_stats(data_dir: Path) -> ServiceResponse:
    """Tenant counts per shard, from tcs."""
    return asyncio.run(_call(data_dir, "GET", "/stats"))
