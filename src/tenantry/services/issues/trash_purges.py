"""Purge what has been in a site's trash for `[retention] trash_days`, on every shard, for good.

Trash rows are tenant-owned (row-level security hides them unless their tenant is named), so
the loop finds its work through `trash_tenants`: each tenant that may have items in its trash
on the shard, noted before the transaction that trashes something. Purging an item erases its
rows in one transaction with the outbox entry that deletes its media (`AttachmentDeletions`),
so a purged attachment's blob goes from media even if media is down at the time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import Engine

from tenantry.platform.background import BackgroundLoop
from tenantry.platform.context import TenantContext, UserContext, require_tenant, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.databases import Databases
from tenantry.services.issues import trash
from tenantry.services.issues.attachment_deletions import (
    ATTEMPT_SECONDS,
    NOTE_GRACE_SECONDS,
    AttachmentDeletions,
)
from tenantry.services.issues.media_files import UPLOAD_LIFETIME, MediaFiles, collection_of
from tenantry.services.issues.models import trash_tenants
from tenantry.services.issues.noted_tenants import Noted, NotedTenants

POLL_SECONDS = 60.0
BATCH = 100

log = structlog.get_logger("tenantry.issues.trash_purges")


class TrashPurges:
    """Erases trashed items for good: at an admin's word, or once they are old enough."""

    def __init__(
        self,
        databases: Databases,
        deletions: AttachmentDeletions,
        media: MediaFiles,
        region: str,
        shards: Sequence[str],
        trash_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._deletions = deletions
        self._media = media
        self._region = region
        self._shards = tuple(shards)
        self._trash_seconds = trash_seconds
        self._clock = clock
        self._notes = NotedTenants(trash_tenants, self._engine, clock)
        self.loop = BackgroundLoop("trash-purges", self.purge_due, POLL_SECONDS)
        """Purges every item older than `trash_seconds`, every POLL_SECONDS."""

    def now(self) -> float:
        """The time a deletion is recorded at."""
        return self._clock()

    def prepare(self) -> None:
        """Note the current tenant on its shard, before a transaction that trashes something."""
        tenant = require_tenant()
        self._notes.note(tenant.shard, tenant.cloud_id, tenant.site)

    async def hide_attachments(self, issue_key: str, user: UserContext) -> None:
        """Put a trashed issue's attachments in the trash in media too, so no link to them
        handed out before works. Best effort: the issue is in the trash already, and a link
        outlives a miss by LINK_LIFETIME at most."""
        try:
            token = await self._media.token(
                collection_of(issue_key),
                ["delete"],
                user,
                UPLOAD_LIFETIME,
                attempt_seconds=ATTEMPT_SECONDS,
            )
            await self._media.trash_collection(token, user, attempt_seconds=ATTEMPT_SECONDS)
        except (ApiError, OSError, ValueError) as failed:
            log.warning(
                "trashed_issue_attachments_still_served",
                issue=issue_key,
                reason=getattr(failed, "code", type(failed).__name__),
            )

    async def purge_now(self, trash_id: str, user: UserContext) -> None:
        """Erase one item of the current tenant's trash now (an admin asked); 404
        `trash_item_not_found` for an id it does not hold."""
        self._deletions.prepare()
        with self._databases.session() as session:
            entry = trash.find_unopened(session, trash_id)
            if entry is None:
                raise trash.not_found()
            target = trash.erase(session, entry)
            if target is not None:
                self._deletions.record(session, target)
        if target is not None:
            await self._deletions.carry_out(target, user)

    async def purge_due(self) -> int:
        """Erase every item whose time has come, on every shard; how many were erased."""
        erased = 0
        deleted_before = self._clock() - self._trash_seconds
        for shard in self._shards:
            for noted in await asyncio.to_thread(self._notes.noted, shard):
                erased += await asyncio.to_thread(self._purge_tenant, shard, noted, deleted_before)
        if erased:
            self._deletions.loop.wake()
        return erased

    def _purge_tenant(self, shard: str, noted: Noted, deleted_before: float) -> int:
        """Erase a tenant's items deleted before `deleted_before` on `shard`; how many."""
        local = TenantContext(
            cloud_id=noted.cloud_id,
            site=noted.site,
            region=self._region,
            shard=shard,
            status="active",
        )
        erased = 0
        with tenant_scope(local):
            with self._databases.session() as session:
                due = trash.due(session, deleted_before, BATCH)
            if due:
                self._deletions.note(shard, noted.cloud_id, noted.site)
            for trash_id in due:
                with self._databases.session() as session:
                    entry = trash.find_unopened(session, trash_id)
                    if entry is None:  # gone with its issue, or restored meanwhile
                        continue
                    target = trash.erase(session, entry)
                    if target is not None:
                        self._deletions.record(session, target)
                erased += 1
            with self._databases.session() as session:
                left = trash.count(session)
        if left == 0 and noted.noted_at < self._clock() - NOTE_GRACE_SECONDS:
            self._notes.forget(shard, noted)
        if erased:
            log.info("trash_purged", shard=shard, tenant=noted.cloud_id, items=erased)
        return erased

    def _engine(self, shard: str) -> Engine:
        return self._databases.engine_for(shard)
