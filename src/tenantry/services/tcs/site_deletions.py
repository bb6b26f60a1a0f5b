"""Delete a site undoably, and purge it: destroy its data keys (crypto-shredding), mark it purged.

A deleted site is unreachable at once (every edge answers it as unknown), and can be undeleted,
whole, until its grace period (`[retention] site_grace_days`) ends. The one way a site is purged,
whoever asks: the operator at once (`tenant purge SITE --yes`, through
`POST /internal/tcs/tenants/{site}/purge`), or the loop here once a deleted site's grace period
(`[retention] site_grace_days`) has ended. The site's rows, blobs and backups stay where they are,
but the only copies of the keys that open them are erased, so no one can read them again.

The site is marked `purging` first, so it can no longer be undeleted while its keys go; a purge
cut short there is finished by the next pass of the loop (or by running the command again).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from tenantry.platform.background import BackgroundLoop
from tenantry.platform.change_feed import ChangeFeed
from tenantry.platform.client import ServiceClient
from tenantry.platform.errors import ApiError
from tenantry.platform.tenant_context import sign_tenant_context
from tenantry.platform.tokens import TokenSigner
from tenantry.services.tcs.catalog import Catalog, Tenant

POLL_SECONDS = 60.0
"""How often the loop looks for sites whose grace period has ended."""

log = structlog.get_logger("tenantry.tcs.site_deletions")


class SiteDeletions:
    """Deletes and undeletes sites, and purges them on request or once their grace has ended."""

    def __init__(
        self,
        catalog: Catalog,
        feed: ChangeFeed,
        client: ServiceClient,
        signer: TokenSigner,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._catalog = catalog
        self._feed = feed
        self._client = client
        self._signer = signer
        self._clock = clock
        self._grace_seconds = catalog.topology.retention.site_grace_seconds
        self.loop = BackgroundLoop("site-purges", self.purge_due, poll_seconds)
        """Purges every site whose grace period has ended, every `poll_seconds`."""

    def delete(self, site: str) -> tuple[Tenant, float]:
        """Make `site` unreachable now, undeletable until its grace period ends; the tenant,
        and when it will be purged (seconds since the epoch)."""
        now = self._clock()
        tenant = self._catalog.delete(site, now)
        self._feed.notify()
        self.loop.wake()  # with no grace at all, the purge is due now
        log.info("site_deleted", site=site, tenant=tenant.cloud_id)
        return tenant, now + self._grace_seconds

    def undelete(self, site: str) -> Tenant:
        """Bring a deleted `site` back, whole, within its grace period."""
        tenant = self._catalog.undelete(site)
        self._feed.notify()
        log.info("site_undeleted", site=site, tenant=tenant.cloud_id)
        return tenant

    async def purge(self, site: str) -> int | None:
        """Destroy `site`'s data keys, then mark it purged; the key versions erased.

        None when the site was purged already. Raises ApiError 404 for an unknown site, and
        503 `kms_unavailable` when its kms did not destroy the keys (the site stays `purging`).
        """
        tenant = self._catalog.begin_purge(site)
        if tenant is None:
            return None
        self._feed.notify()
        response = await self._client.call(
            "kms",
            "POST",
            "/internal/kms/data-key/destroy",
            region=tenant.region,
            tenant_context=sign_tenant_context(self._signer, tenant.context()),
            tenant_id=tenant.cloud_id,
        )
        if response.status != 200:
            raise ApiError(
                503,
                "kms_unavailable",
                f"kms answered {response.status}; site {site!r} stays purging, try again",
                {"Retry-After": "5"},
            )
        destroyed = int(response.json()["destroyed"])
        self._catalog.finish_purge(site)
        self._feed.notify()
        log.info("site_purged", site=site, tenant=tenant.cloud_id, key_versions=destroyed)
        return destroyed

    async def purge_due(self) -> int:
        """Purge every deleted site whose grace period has ended; how many were purged."""
        purged = 0
        for site in self._catalog.due_for_purge(self._clock() - self._grace_seconds):
            try:
                await self.purge(site)
            except (ApiError, OSError) as failed:  # this site waits for the next pass
                log.warning(
                    "site_purge_postponed",
                    site=site,
                    reason=getattr(failed, "code", type(failed).__name__),
                )
                continue
            purged += 1
        return purged
