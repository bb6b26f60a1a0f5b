"""On start, queue again every file a stopped media process left `pending`, so each ends
`succeeded` or `failed`.

The shards of the region keep a queue of files awaiting previews (`preview_queue`). For each
tenant with entries, media asks tcs for the tenant's signed context (by site name, as the edge
does), checks it is the same tenant, and then, acting as that tenant, fetches its keys from kms
and submits each file that is still pending. Entries whose tenant or file is gone, or whose file
already has its outcome, are dropped. tcs or kms may still be starting: the work is a
background loop that ends once every shard is done, and a shard that fails is tried again after
a growing pause until it works or media stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from itertools import groupby

import structlog

from tenantry.platform.background import BackgroundLoop
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext, current_tenant_token, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.platform.tenant_lookup import TenantLookup
from tenantry.services.media import store
from tenantry.services.media.preview_queue import Waiting
from tenantry.services.media.service import Media

log = structlog.get_logger("tenantry.media.requeue")
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 10.0


class Requeue:
    """Finds a region's waiting files and hands them to the processor again."""

    def __init__(
        self,
        media: Media,
        client: ServiceClient,
        contexts: TenantContextVerifier,
        shards: Sequence[str],
    ) -> None:
        self._media = media
        self._tenants = TenantLookup(client, contexts)
        self._left = list(shards)
        self._submitted: set[tuple[str, str]] = set()
        self.loop = BackgroundLoop(
            "preview-requeue",
            self.requeue_left,
            FIRST_PAUSE_SECONDS,
            until_done=True,
            first_retry_seconds=FIRST_PAUSE_SECONDS,
            max_retry_seconds=MAX_PAUSE_SECONDS,
        )
        """Re-queues every shard once, from start until done."""

    async def requeue_left(self) -> None:
        """Re-queue each shard not done yet; raise if any failed, so the loop tries it again."""
        failed: list[str] = []
        first_error: ApiError | OSError | None = None
        for shard in self._left:
            try:
                await self.shard(shard)
            except (ApiError, OSError) as error:
                log.warning("requeue_retry", shard=shard, error=str(error))
                failed.append(shard)
                first_error = first_error or error
        self._left = failed
        if first_error is not None:
            raise first_error

    async def shard(self, shard: str) -> int:
        """Re-queue one shard's waiting files; how many were submitted.

        A tenant that cannot be served now (tcs or kms not answering) does not hold up the
        others; the first such failure is raised at the end, so the shard is tried again
        (files already submitted are not submitted twice).
        """
        queue = self._media.processor.queue
        waiting = await asyncio.to_thread(queue.waiting, shard)
        submitted = 0
        postponed: ApiError | None = None
        by_tenant = groupby(sorted(waiting, key=_tenant_of), key=_tenant_of)
        for (cloud_id, site), entries in by_tenant:
            files = [e.file_id for e in entries if (cloud_id, e.file_id) not in self._submitted]
            try:
                found = await self._tenants.by_site(site)
                gone = found is None or found[0].cloud_id != cloud_id or found[0].shard != shard
                if not gone and found is not None:
                    submitted += await self._tenant(found[0], found[1], files)
            except ApiError as error:
                if error.status != 410:  # 410: the tenant was purged, its files with it
                    postponed = postponed or error
                    continue
                gone = True
            if gone:  # the tenant is gone (or another site now has its name)
                for file_id in files:
                    await asyncio.to_thread(queue.drop, shard, cloud_id, file_id)
        if submitted:
            log.info("requeued", shard=shard, files=submitted)
        if postponed is not None:
            raise postponed
        return submitted

    async def _tenant(self, tenant: TenantContext, token: str, files: list[str]) -> int:
        """Submit a tenant's pending files again, acting as that tenant."""
        queue = self._media.processor.queue
        submitted = 0
        with tenant_scope(tenant):
            marker = current_tenant_token.set(token)
            try:
                for file_id in files:
                    row = self._media.find(file_id)
                    if row is None or row.status != store.PENDING:
                        await asyncio.to_thread(queue.remove, file_id)
                        continue
                    keys = await self._media.keys_with({row.key_version})
                    self._media.processor.submit(row, keys)
                    self._submitted.add((tenant.cloud_id, file_id))
                    submitted += 1
            finally:
                current_tenant_token.reset(marker)
        return submitted


def _tenant_of(entry: Waiting) -> tuple[str, str]:
    return entry.cloud_id, entry.site
