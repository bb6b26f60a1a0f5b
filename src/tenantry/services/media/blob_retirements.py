"""Blobs are never removed for good before backups stop reaching back to when rows named them.

A restore brings back a tenant's rows as they were at some second of the backup window, and
every blob those rows name must still be there. So deleting a file, or finishing or cancelling
an upload, removes its rows at once (the API answers 404 from then on) but only retires its
blob tree: a `blob_retirements` row, due `[backup] retention_days` later. The loop here removes
the trees whose time has come, from the local store or S3 alike (a delayed delete).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import structlog
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from tenantry.platform.background import BackgroundLoop
from tenantry.platform.context import require_tenant
from tenantry.platform.storage.databases import Databases
from tenantry.services.media.blobs import EncryptedBlobs
from tenantry.services.media.models import blob_retirements

POLL_SECONDS = 60.0
BATCH = 100

log = structlog.get_logger("tenantry.media.blob_retirements")


class BlobRetirements:
    """Retires blob trees now, and removes them once `keep_seconds` have passed."""

    def __init__(
        self,
        databases: Databases,
        blobs: EncryptedBlobs,
        shards: Sequence[str],
        keep_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._blobs = blobs
        self._shards = tuple(shards)
        self._keep_seconds = keep_seconds
        self._clock = clock
        self.loop = BackgroundLoop("blob-retirements", self.remove_due, POLL_SECONDS)
        """Removes the retired trees whose time has come, every POLL_SECONDS."""

    def retire(self, prefix: str) -> None:
        """Keep the current tenant's tree `prefix` for the backup window, then remove it."""
        tenant = require_tenant()
        engine = self._databases.engine_for(tenant.shard)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        due_at = self._clock() + self._keep_seconds
        statement = (
            dialect.insert(blob_retirements)
            .values(cloud_id=tenant.cloud_id, prefix=prefix, due_at=due_at)
            .on_conflict_do_update(index_elements=["cloud_id", "prefix"], set_={"due_at": due_at})
        )
        with engine.begin() as connection:
            connection.execute(statement)

    async def remove_due(self) -> int:
        """Remove every retired tree whose time has come, on every shard; how many."""
        removed = 0
        for shard in self._shards:
            removed += await asyncio.to_thread(self._remove_due, shard)
        return removed

    def _remove_due(self, shard: str) -> int:
        table = blob_retirements
        engine = self._databases.engine_for(shard)
        query = (
            select(table.c.cloud_id, table.c.prefix)
            .where(table.c.due_at <= self._clock())
            .order_by(table.c.due_at)
            .limit(BATCH)
        )
        with engine.connect() as connection:
            due = [(str(cloud_id), str(prefix)) for cloud_id, prefix in connection.execute(query)]
        for cloud_id, prefix in due:
            self._blobs.delete_tree(cloud_id, prefix)
            with engine.begin() as connection:
                connection.execute(
                    delete(table).where(table.c.cloud_id == cloud_id, table.c.prefix == prefix)
                )
        if due:
            log.info("retired_blobs_removed", shard=shard, trees=len(due))
        return len(due)
