"""Where pages delivers views, `POST /internal/analytics/views` (never forwarded by the edge).

A delivery carries the tenant's signed context and up to `MAX_BATCH` views of that tenant. It
is counted in one transaction and answers what was counted; views already counted (a delivery
repeated after a lost answer) are skipped, so pages may deliver again whenever it is unsure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from tenantry.platform.context import require_tenant
from tenantry.platform.personal_data_steps import require_signed_tenant
from tenantry.platform.storage.databases import Databases
from tenantry.services.analytics import store
from tenantry.services.analytics.retention import Retention, day_of, viewers_since
from tenantry.services.analytics.schemas import ViewBatch

PREFIX = "/internal/analytics"


def build_internal_router(
    databases: Databases, retention: Retention, clock: Callable[[], float] = time.time
) -> APIRouter:
    """The delivery route, counting into `databases` and noting tenants for `retention`."""
    router = APIRouter(prefix=PREFIX)

    @router.post("/views")
    async def deliver_views(body: ViewBatch) -> dict[str, Any]:
        """Count a batch of one tenant's views (each at most once)."""
        require_signed_tenant()
        tenant = require_tenant()
        today = day_of(clock())
        views = [
            store.View(v.id, v.page, v.space, v.account, day_of(v.at).isoformat())
            for v in body.views
        ]

        def count() -> store.Counted:
            retention.note(tenant.shard, tenant.cloud_id, tenant.site)
            with databases.session() as session:
                return store.count_views(
                    session, views, today.isoformat(), viewers_since(today).isoformat()
                )

        counted = await asyncio.to_thread(count)
        return {
            "counted": counted.counted,
            "repeated": counted.repeated,
            "new_viewers": counted.viewers,
        }

    return router
