"""The files of a shard still waiting for their previews, kept so none is forgotten by a stop.

A file enters the queue before its row is committed and leaves it once processing has recorded
its outcome, so a media process that stops (or is killed) in between leaves the entry behind,
and the next start re-queues the file (`tenantry.services.media.requeue`). The table holds ids
and the site's name only; it lives on the tenant's own shard, outside tenant sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select

from tenantry.platform.context import require_tenant
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.model import utc_now
from tenantry.services.media.models import preview_queue


@dataclass(frozen=True, slots=True)
class Waiting:
    """One queued file: its tenant (by cloud id and site name) and its id."""

    cloud_id: str
    site: str
    file_id: str


class PreviewQueue:
    """Adds and removes entries for the current tenant; lists a whole shard's on start."""

    def __init__(self, databases: Databases) -> None:
        self._databases = databases

    def add(self, file_id: str) -> None:
        """Record that the current tenant's file `file_id` awaits its previews."""
        tenant = require_tenant()
        row = {
            "cloud_id": tenant.cloud_id,
            "file_id": file_id,
            "site": tenant.site,
            "queued_at": utc_now(),
        }
        with self._databases.engine_for(tenant.shard).begin() as connection:
            connection.execute(insert(preview_queue).values(**row))

    def remove(self, file_id: str) -> None:
        """The current tenant's file no longer waits (its outcome is recorded, or it is gone)."""
        tenant = require_tenant()
        self.drop(tenant.shard, tenant.cloud_id, file_id)

    def drop(self, shard: str, cloud_id: str, file_id: str) -> None:
        """Remove one entry of `shard` (on start, for tenants or files that are gone)."""
        with self._databases.engine_for(shard).begin() as connection:
            connection.execute(
                delete(preview_queue).where(
                    preview_queue.c.cloud_id == cloud_id, preview_queue.c.file_id == file_id
                )
            )

    def waiting(self, shard: str) -> list[Waiting]:
        """Every entry of `shard`, oldest first."""
        query = select(
            preview_queue.c.cloud_id, preview_queue.c.site, preview_queue.c.file_id
        ).order_by(preview_queue.c.queued_at, preview_queue.c.file_id)
        with self._databases.engine_for(shard).connect() as connection:
            return [Waiting(*row) for row in connection.execute(query)]
