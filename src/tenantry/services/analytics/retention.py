"""How long analytics keeps who viewed what, and the loop that drops it when that time is up.

A page's day keeps its views and its number of unique viewers for good. Which accounts viewed
the page that day is kept only while the number can still grow: through the day itself and the
`VIEWER_DAYS` days after it (a view held up in pages' outbox by an outage still finds its day's
viewers), then the accounts are dropped and only the number stays. A view that arrives later
than that still counts as a view, not as a viewer. The id of each view counted is kept
`RECEIPT_DAYS` days after it arrived, long enough for any repeated delivery of it (pages retries
a delivery within seconds of a lost answer), so no view is counted twice.

Rows are tenant-owned (row-level security hides them unless their tenant is named), so the loop
finds its work through `viewer_tenants`, noted whenever views of a tenant are counted; a note is
dropped once a pass finds nothing left of the tenant to expire.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import structlog
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from tenantry.platform.background import BackgroundLoop
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.storage.databases import Databases
from tenantry.services.analytics import store
from tenantry.services.analytics.models import viewer_tenants

VIEWER_DAYS = 2
"""A day's viewers are kept through the day and this many days after it (UTC), then dropped."""
RECEIPT_DAYS = 3
"""The id of a view counted is kept this many days after it arrived."""
SWEEP_SECONDS = 3600.0
"""How often the loop looks for viewers and receipts whose time is up."""
NOTE_GRACE_SECONDS = 60.0
"""A tenant's note outlives its last row this long, so a batch still committing (its note
written, its rows not yet visible) is never left without one."""

log = structlog.get_logger("tenantry.analytics.retention")


def day_of(moment: float) -> date:
    """The UTC day of a moment (epoch seconds)."""
    return datetime.fromtimestamp(moment, UTC).date()


def viewers_since(today: date) -> date:
    """The first day whose viewers are still kept on `today`."""
    return today - timedelta(days=VIEWER_DAYS)


def receipts_since(today: date) -> date:
    """The first day of arrival whose view ids are still kept on `today`."""
    return today - timedelta(days=RECEIPT_DAYS)


@dataclass(frozen=True, slots=True)
class Noted:
    """A tenant that may have viewers or receipts to expire on a shard."""

    cloud_id: str
    site: str
    noted_at: float


class Retention:
    """The notes of tenants with rows to expire, and the loop that expires them."""

    def __init__(
        self,
        databases: Databases,
        region: str,
        shards: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._region = region
        self._shards = tuple(shards)
        self._clock = clock
        self.loop = BackgroundLoop("analytics-retention", self.expire_due, SWEEP_SECONDS)
        """Drops viewers and receipts whose time is up, once an hour."""

    def note(self, shard: str, cloud_id: str, site: str) -> None:
        """Note (or refresh) a tenant on `shard`, before a transaction counts its views."""
        engine = self._engine(shard)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        now = self._clock()
        insert = dialect.insert(viewer_tenants).values(cloud_id=cloud_id, site=site, noted_at=now)
        statement = insert.on_conflict_do_update(
            index_elements=["cloud_id"], set_={"site": site, "noted_at": now}
        )
        with engine.begin() as connection:
            connection.execute(statement)

    def noted(self, shard: str) -> list[Noted]:
        """Every note on `shard`, oldest first."""
        table = viewer_tenants
        query = select(table.c.cloud_id, table.c.site, table.c.noted_at).order_by(table.c.noted_at)
        with self._engine(shard).connect() as connection:
            return [Noted(*row) for row in connection.execute(query)]

    async def expire_due(self) -> int:
        """Expire every noted tenant's viewers and receipts whose time is up, on every shard;
        how many rows went."""
        return await asyncio.to_thread(self.expire_now)

    def expire_now(self) -> int:
        """`expire_due`, in the calling thread (operators and tests)."""
        today = day_of(self._clock())
        gone = 0
        for shard in self._shards:
            for tenant in self.noted(shard):
                local = TenantContext(
                    cloud_id=tenant.cloud_id,
                    site=tenant.site,
                    region=self._region,
                    shard=shard,
                    status="active",
                )
                with tenant_scope(local), self._databases.session() as session:
                    viewers, receipts = store.expire(
                        session,
                        viewers_since(today).isoformat(),
                        receipts_since(today).isoformat(),
                    )
                    left = store.kept(session)
                gone += viewers + receipts
                if viewers or receipts:
                    log.info(
                        "analytics_expired",
                        tenant=tenant.cloud_id,
                        viewers=viewers,
                        receipts=receipts,
                    )
                if left == 0 and tenant.noted_at < self._clock() - NOTE_GRACE_SECONDS:
                    self._forget(shard, tenant)
        return gone

    def _forget(self, shard: str, noted: Noted) -> None:
        """Drop a tenant's note, unless it was refreshed meanwhile (views counted since)."""
        table = viewer_tenants
        with self._engine(shard).begin() as connection:
            connection.execute(
                delete(table).where(
                    table.c.cloud_id == noted.cloud_id, table.c.noted_at == noted.noted_at
                )
            )

    def _engine(self, shard: str) -> Engine:
        return self._databases.engine_for(shard)
