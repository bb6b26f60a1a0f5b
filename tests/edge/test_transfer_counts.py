"""The edge's transfer counts: a `none` pair refused and counted, a site's own region not
counted, and counts kept through a flush that fails (nothing is lost, nothing counted twice)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import pytest

from tenantry.platform.client import ServiceClient, ServiceResponse
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.platform.topology import Transfers
from tenantry.services.edge.tenant_cache import CachedTenant, TenantCache
from tenantry.services.edge.transfers import TransferCounter

SITE = TenantContext("c" * 32, "acme", "us", "us-1", "active")


class _Tenants:
    async def lookup(self, site: str) -> CachedTenant:
        return CachedTenant(SITE if site == SITE.site else None, "signed-context", 0.0)


class _Privacy:
    """Answers 503 while `down`, else records every call's records."""

    def __init__(self) -> None:
        self.down = True
        self.calls: list[dict[str, Any]] = []

    async def call(self, callee: str, method: str, route: str, **kwargs: Any) -> ServiceResponse:
        assert (callee, method, route) == ("privacy", "POST", "/internal/privacy/transfers")
        assert kwargs["region"] == "us" and kwargs["tenant_context"] == "signed-context"
        if self.down:
            return ServiceResponse(503, {}, b"{}")
        self.calls.append(kwargs["json"])
        return ServiceResponse(200, {}, orjson.dumps({"recorded": 1}))


def test_refusal_counting_and_a_failed_flush_losing_nothing() -> None:
    privacy = _Privacy()
    config = Transfers(pairs={("us", "au"): "none"})
    eu = TransferCounter("eu", config, cast(ServiceClient, privacy), cast(TenantCache, _Tenants()))
    au = TransferCounter("au", config, cast(ServiceClient, privacy), cast(TenantCache, _Tenants()))
    home = TransferCounter(
        "us", config, cast(ServiceClient, privacy), cast(TenantCache, _Tenants())
    )
    home.check(SITE, "issues")  # the site's own region: no transfer
    for _ in range(3):
        eu.check(SITE, "issues")
    eu.check(SITE, "pages")
    with pytest.raises(ApiError) as refused:
        au.check(SITE, "issues")
    assert (refused.value.status, refused.value.code) == (451, "transfer_not_permitted")

    with pytest.raises(RuntimeError):
        asyncio.run(eu.flush())  # privacy is down: the counts stay
    eu.check(SITE, "issues")
    privacy.down = False
    asyncio.run(eu.flush())
    asyncio.run(eu.flush())  # nothing left: no call
    asyncio.run(home.flush())
    asyncio.run(au.flush())
    assert len(privacy.calls) == 2
    sent = {
        (r["category"], r["destination_region"], r["legal_basis"], r["outcome"]): r["volume"]
        for call in privacy.calls
        for r in call["records"]
    }
    assert sent == {
        ("issues", "eu", "scc", "transferred"): 4,
        ("pages", "eu", "scc", "transferred"): 1,
        ("issues", "au", "none", "refused"): 1,
    }
