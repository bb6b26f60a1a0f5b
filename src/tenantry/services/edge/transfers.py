"""Counting what an edge forwards out of a site's home region, so every transfer is recorded.

A request that reaches an edge of another region than the site's home carries the site's data
out of its region (the answer travels to the client through this edge). The pair's legal basis
(`[transfers]` in the topology) decides: `none` refuses the request (451
`transfer_not_permitted`, nothing forwarded); any other is forwarded. Either way it is counted
in memory per site, route class (the service owning the route), day and outcome, and a
background loop hands the counts to the privacy service of the site's home region, which keeps
them as the site's transfer records. A flush that fails keeps its counts for the next one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from tenantry.platform.background import BackgroundLoop
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.platform.topology import NONE, Transfers
from tenantry.services.edge.tenant_cache import TenantCache

LOOP_NAME = "transfer-flush"
REASON = "transfer_not_permitted"
TRANSFERRED = "transferred"
REFUSED = "refused"
log = structlog.get_logger("tenantry.edge.transfers")


@dataclass(frozen=True, slots=True)
class _Key:
    cloud_id: str
    site: str
    category: str
    source: str
    destination: str
    basis: str
    outcome: str
    day: str


@dataclass(slots=True)
class _Count:
    volume: int
    first_at: float
    last_at: float


class TransferCounter:
    """The edge's counts of transfers not yet recorded, and the loop that records them."""

    def __init__(
        self, region: str, config: Transfers, client: ServiceClient, tenants: TenantCache
    ) -> None:
        self._region = region
        self._config = config
        self._client = client
        self._tenants = tenants
        self._counts: dict[_Key, _Count] = {}
        self.loop = BackgroundLoop(LOOP_NAME, self.flush, config.flush_seconds)

    def check(self, tenant: TenantContext, category: str) -> None:
        """Count a request of `tenant` for `category` leaving its home region through this edge;
        raise 451 `transfer_not_permitted` (counted as refused) when the pair's basis is `none`.

        A request of a site homed in this edge's region transfers nothing and is not counted.
        """
        if tenant.region == self._region:
            return
        basis = self._config.basis(tenant.region, self._region)
        outcome = REFUSED if basis == NONE else TRANSFERRED
        self._count(tenant, category, basis, outcome, time.time())
        if outcome == REFUSED:
            raise ApiError(
                451,
                REASON,
                f"this site's data may not leave region {tenant.region} for {self._region}; "
                f"use the edge of region {tenant.region}",
            )

    def _count(
        self, tenant: TenantContext, category: str, basis: str, outcome: str, now: float
    ) -> None:
        day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        key = _Key(
            tenant.cloud_id, tenant.site, category, tenant.region, self._region, basis, outcome, day
        )
        count = self._counts.get(key)
        if count is None:
            self._counts[key] = _Count(1, now, now)
        else:
            count.volume += 1
            count.last_at = now

    async def flush(self) -> None:
        """Hand every count to the privacy service of its site's home region, one call per site;
        the counts of a call that fails are put back for the next flush."""
        taken, self._counts = self._counts, {}
        by_site: dict[tuple[str, str], list[tuple[_Key, _Count]]] = {}
        for key, count in taken.items():
            by_site.setdefault((key.cloud_id, key.site), []).append((key, count))
        pending = list(by_site.items())
        failed: Exception | None = None
        try:
            while pending:
                (cloud_id, site), counts = pending[0]
                try:
                    await self._record(cloud_id, site, counts)
                except Exception as exc:
                    failed = exc
                    for key, count in counts:
                        self._put_back(key, count)
                pending.pop(0)
        finally:
            # Cancelled mid-way (shutdown): what was not recorded waits for the last flush.
            for _site, counts in pending:
                for key, count in counts:
                    self._put_back(key, count)
        if failed is not None:
            raise failed

    async def _record(self, cloud_id: str, site: str, counts: list[tuple[_Key, _Count]]) -> None:
        entry = await self._tenants.lookup(site)
        if entry.tenant is None or entry.tenant.cloud_id != cloud_id:
            log.info("transfer_counts_dropped", tenant_id=cloud_id, reason="site_gone")
            return
        records = [
            {
                "kind": "request",
                "category": key.category,
                "source_region": key.source,
                "destination_region": key.destination,
                "legal_basis": key.basis,
                "outcome": key.outcome,
                "day": key.day,
                "volume": count.volume,
                "volume_unit": "requests",
                "first_at": count.first_at,
                "last_at": count.last_at,
            }
            for key, count in counts
        ]
        response = await self._client.call(
            "privacy",
            "POST",
            "/internal/privacy/transfers",
            json={"records": records},
            region=entry.tenant.region,
            tenant_context=entry.context,
            tenant_id=cloud_id,
        )
        if response.status != 200:
            raise RuntimeError(f"privacy answered {response.status} to transfer records")

    def _put_back(self, key: _Key, count: _Count) -> None:
        held = self._counts.get(key)
        if held is None:
            self._counts[key] = count
        else:
            held.volume += count.volume
            held.first_at = min(held.first_at, count.first_at)
