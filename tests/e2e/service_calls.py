"""Calls made straight to a running cloud's services, signed as one of them, as tests need them."""

from __future__ import annotations

import asyncio
from typing import Any

from tenantry.platform.client import ServiceClient, ServiceResponse
from tenantry.platform.directory import ServiceDirectory
from tenantry.platform.service_keys import load_service_key
from tenantry.platform.tokens import TokenSigner

from .api import Site
from .cloud import Cloud


def call_as(cloud: Cloud, caller: str, *args: Any, **kwargs: Any) -> ServiceResponse:
    """One signed call, made as `caller` would, with that service's own key (no retries)."""

    async def run() -> ServiceResponse:
        signer = TokenSigner(load_service_key(cloud.data_dir, caller))
        client = ServiceClient(signer, ServiceDirectory.load(cloud.data_dir), retries=0)
        try:
            return await client.call(*args, **kwargs)
        finally:
            await client.close()

    return asyncio.run(run())


def tenant_context(cloud: Cloud, site: Site) -> str:
    """The site's signed tenant context, as the edge gets it from tcs."""
    found = call_as(
        cloud,
        "edge",
        "tcs",
        "GET",
        "/internal/tcs/tenants/by-site/{site}",
        params={"site": site.name},
    )
    assert found.status == 200, found.body
    return str(found.json()["context"])


def data_key(
    cloud: Cloud,
    site: Site,
    *,
    caller: str = "issues",
    region: str = "",
    version: int | None = None,
) -> ServiceResponse:
    """kms's answer for the site's current data key (or `version`), asked as `caller`."""
    route, params = "/internal/kms/data-key", {}
    if version is not None:
        route, params = "/internal/kms/data-key/{version}", {"version": str(version)}
    return call_as(
        cloud,
        caller,
        "kms",
        "GET",
        route,
        params=params,
        region=region or site.region,
        tenant_context=tenant_context(cloud, site),
        tenant_id=site.cloud_id,
    )
