"""Purge what has been in a site's trash for `[retention] trash_days`, on every shard, for good.

Every service with a trash (issues, pages) runs the same loop: trash rows are tenant-owned
(row-level security hides them unless their tenant is named), so the loop finds its work
through a table of notes (`NotedTenants`): each tenant that may have items in its trash on the
shard, noted before the transaction that trashes something. For each noted tenant it asks the
service's `TrashBin` which deletions are due and erases each in a transaction of its own; a
tenant whose trash is empty loses its note. What erasing means (which rows go, what else must
follow) is the service's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog
from sqlalchemy import Engine, Table

from tenantry.platform.background import BackgroundLoop
from tenantry.platform.context import TenantContext, require_tenant, tenant_scope
from tenantry.platform.noted_tenants import Noted, NotedTenants
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession

POLL_SECONDS = 60.0
BATCH = 100
NOTE_GRACE_SECONDS = 60.0
"""How old a note must be before an empty trash drops it: a transaction that noted its tenant
may not have committed its deletion yet."""

LOOP_NAME = "trash-purges"
"""The name every service declares the loop under (its spec's `loops`)."""

log = structlog.get_logger("tenantry.trash_purges")


class TrashBin(Protocol):
    """What a service's trash offers the purge loop, all on the current tenant's session."""

    def due(self, session: TenantSession, deleted_before: float, limit: int) -> list[str]:
        """Ids of up to `limit` deletions made before `deleted_before`, oldest first."""

    def erase(self, session: TenantSession, trash_id: str) -> bool:
        """Erase one deletion for good; False when it is gone already (restored meanwhile)."""

    def count(self, session: TenantSession) -> int:
        """How many deletions the current tenant's trash holds."""

    def before_tenant(self, shard: str, noted: Noted) -> None:
        """Runs before a tenant's due deletions are erased (issues notes its outbox here)."""

    def after_pass(self, erased: int) -> None:
        """Runs after a pass over every shard that erased `erased` deletions."""


class TrashPurgeLoop:
    """Erases every deletion of a service's trash once it is `trash_seconds` old."""

    def __init__(
        self,
        databases: Databases,
        notes_table: Table,
        trash_bin: TrashBin,
        region: str,
        shards: Sequence[str],
        trash_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._bin = trash_bin
        self._region = region
        self._shards = tuple(shards)
        self._trash_seconds = trash_seconds
        self._clock = clock
        self._notes = NotedTenants(notes_table, self._engine, clock)
        self.loop = BackgroundLoop(LOOP_NAME, self.purge_due, POLL_SECONDS)
        """Purges every deletion older than `trash_seconds`, every POLL_SECONDS."""

    def now(self) -> float:
        """The time a deletion is recorded at."""
        return self._clock()

    def prepare(self) -> None:
        """Note the current tenant on its shard, before a transaction that trashes something."""
        tenant = require_tenant()
        self._notes.note(tenant.shard, tenant.cloud_id, tenant.site)

    async def purge_due(self) -> int:
        """Erase every deletion whose time has come, on every shard; how many were erased."""
        erased = 0
        deleted_before = self._clock() - self._trash_seconds
        for shard in self._shards:
            for noted in await asyncio.to_thread(self._notes.noted, shard):
                erased += await asyncio.to_thread(self._purge_tenant, shard, noted, deleted_before)
        self._bin.after_pass(erased)
        return erased

    def _purge_tenant(self, shard: str, noted: Noted, deleted_before: float) -> int:
        """Erase a tenant's deletions made before `deleted_before` on `shard`; how many."""
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
                due = self._bin.due(session, deleted_before, BATCH)
            if due:
                self._bin.before_tenant(shard, noted)
            for trash_id in due:
                with self._databases.session() as session:
                    if self._bin.erase(session, trash_id):
                        erased += 1
            with self._databases.session() as session:
                left = self._bin.count(session)
        if left == 0 and noted.noted_at < self._clock() - NOTE_GRACE_SECONDS:
            self._notes.forget(shard, noted)
        if erased:
            log.info("trash_purged", shard=shard, tenant=noted.cloud_id, items=erased)
        return erased

    def _engine(self, shard: str) -> Engine:
        return self._databases.engine_for(shard)
