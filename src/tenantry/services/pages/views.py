"""Report every page view to analytics without making the view wait for it, fail with it, or
lose it when analytics is down.

Reading a page (`GET /rest/pages/pages/{id}`) hands the view to this process's buffer and wakes
the flushing loop; the read answers without waiting for any write or call. The flushing loop
writes what the buffer holds to `view_outbox` in the tenant's pages database, one transaction
per shard for every view buffered meanwhile (so views cost one commit per batch, not one each),
and wakes the delivery loop; the process flushes what is left when it stops. Only views
buffered in the moments before a crash (one flush, milliseconds in the normal course) could
be lost; a write that fails keeps its views buffered and is retried.

The delivery loop delivers due rows tenant by tenant, in batches, to the tenant's region's
analytics (`POST /internal/analytics/views`, with the tenant's signed context from tcs), and
deletes a batch once analytics answered it. A batch that fails (analytics down, frozen or
refusing) stays and is tried again with a growing pause (at most `MAX_BACKOFF_SECONDS`) for as
long as it takes, across restarts too. Every row carries a random view id made when the view
happened, and analytics counts each id once, so a batch delivered again (its answer lost)
counts nothing twice. A tenant tcs no longer knows, or one purged, has its rows dropped: there
is nobody left to count them for.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any

import structlog
from sqlalchemy import Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from tenantry.platform.background import BackgroundLoop, Idle
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext, require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.personal_data import FORMER_USER
from tenantry.platform.storage.databases import Databases
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.services.pages.models import ViewOutboxRow

POLL_SECONDS = 0.2
"""The pause after a pass that delivered views (more may wait behind a full batch)."""
IDLE_POLL_SECONDS = 60.0
"""The longest rest of a loop that knows of no view due (a safety net for rows another
process of the region left)."""
BATCH = 200
"""The most views one delivery carries (analytics takes up to 500)."""
ATTEMPT_SECONDS = 5.0
"""How long one delivery may take before it counts as failed."""
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
FLUSH_PAUSE_SECONDS = 0.05
"""The pause after a flush that wrote views (more arriving meanwhile go in the next one)."""
MAX_BUFFERED = 100_000
"""The most views the buffer holds while the database refuses writes; more are logged as
unrecorded rather than growing the process without bound."""
CONTEXT_REUSE_SECONDS = 10.0
"""How long a tenant's signed context from tcs is reused for its next deliveries (contexts
live five minutes; a short reuse follows a tenant's move to another region soon)."""

log = structlog.get_logger("tenantry.pages.views")


def backoff(attempts: int) -> float:
    """The pause before the next try after `attempts` failed ones."""
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


class PageViews:
    """The outbox of page views, and the loop that delivers it to analytics."""

    def __init__(
        self,
        databases: Databases,
        client: ServiceClient,
        verifier: TenantContextVerifier,
        shards: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._client = client
        self._verifier = verifier
        self._shards = tuple(shards)
        self._clock = clock
        self._contexts: dict[str, tuple[TenantContext, str, float]] = {}
        self._buffer: dict[str, list[dict[str, Any]]] = {}
        self._buffered = 0
        self._lock = threading.Lock()
        self.flusher = BackgroundLoop(
            "page-views-flush",
            self.flush,
            FLUSH_PAUSE_SECONDS,
            idle_pause_seconds=IDLE_POLL_SECONDS,
        )
        """Writes buffered views to the outbox, woken by each view."""
        self.loop = BackgroundLoop(
            "page-views", self.deliver_due, POLL_SECONDS, idle_pause_seconds=IDLE_POLL_SECONDS
        )
        """Delivers views at once when woken, and retries failed ones as they fall due."""

    def record(self, page_id: str, space_key: str, account_id: str) -> None:
        """Buffer a view of the current tenant's page and wake the flushing loop (in the reading
        request, after its read, from any thread); never raises for want of storage."""
        tenant = require_tenant()
        now = self._clock()
        row = {
            "cloud_id": tenant.cloud_id,
            "view_id": secrets.token_hex(16),
            "page_id": page_id,
            "space_key": space_key,
            "account_id": account_id,
            "viewed_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        }
        with self._lock:
            full = self._buffered >= MAX_BUFFERED
            if not full:
                self._buffer.setdefault(tenant.shard, []).append(row)
                self._buffered += 1
        if full:
            log.warning("page_view_unrecorded", tenant_id=tenant.cloud_id, page=page_id)
            return
        self.flusher.wake()

    def forget_account(self, cloud_id: str, account_id: str) -> int:
        """Make a tenant's buffered views of an erased account former user's (its erasure;
        the outbox rows are scrubbed by the erase step itself); how many were."""
        scrubbed = 0
        with self._lock:
            for rows in self._buffer.values():
                for row in rows:
                    if row["cloud_id"] == cloud_id and row["account_id"] == account_id:
                        row["account_id"] = FORMER_USER
                        scrubbed += 1
        return scrubbed

    async def flush(self) -> int | Idle:
        """Write every buffered view to the outbox; how many, or `Idle` if none waited."""
        return await asyncio.to_thread(self.flush_now)

    async def flush_at_stop(self) -> None:
        """Write what is still buffered (a shutdown hook, after the loops stopped)."""
        try:
            await asyncio.to_thread(self.flush_now)
        except SQLAlchemyError as error:
            log.warning("page_views_unflushed", views=self._buffered, reason=type(error).__name__)

    def flush_now(self) -> int | Idle:
        """`flush`, in the calling thread. Views whose write fails go back to the buffer, and
        the error is raised (the loop retries)."""
        with self._lock:
            taken, self._buffer, self._buffered = self._buffer, {}, 0
        if not taken:
            return Idle()
        written = 0
        try:
            for shard in list(taken):
                with self._engine(shard).begin() as connection:
                    connection.execute(insert(ViewOutboxRow), taken[shard])
                written += len(taken.pop(shard))
        finally:
            if taken:
                with self._lock:
                    for shard, rows in taken.items():
                        self._buffer[shard] = rows + self._buffer.get(shard, [])
                        self._buffered += len(rows)
            if written:
                self.loop.wake()
        return written

    async def deliver_due(self) -> int | Idle:
        """Deliver every due view, each tenant's in batches; how many were delivered, or
        `Idle` (with the seconds until the soonest retry falls due) if none was."""
        delivered = 0
        tried = False
        for shard in self._shards:
            due = await asyncio.to_thread(self._due, shard)
            for cloud_id, rows in groupby(due, key=lambda r: str(r.cloud_id)):
                tried = True
                delivered += await self._deliver(shard, cloud_id, list(rows))
        if tried:
            return delivered
        soonest = await asyncio.to_thread(self._soonest)
        return Idle(None if soonest is None else max(0.0, soonest - self._clock()))

    def pending(self) -> int:
        """How many views wait for delivery, buffered or on every shard (tests, operators)."""
        count = self._buffered
        for shard in self._shards:
            with self._engine(shard).connect() as connection:
                count += int(connection.execute(_COUNT).scalar_one())
        return count

    async def _deliver(self, shard: str, cloud_id: str, rows: list[Any]) -> int:
        """Post one tenant's batch; how many views analytics now has (0 when it failed, or when
        the tenant is gone and its rows were dropped)."""
        try:
            found = await self._context(cloud_id)
            if found is None:
                await asyncio.to_thread(self._remove, shard, rows)
                log.info("page_views_dropped", tenant_id=cloud_id, views=len(rows))
                return 0
            tenant, context = found
            answer = await self._client.call(
                "analytics",
                "POST",
                "/internal/analytics/views",
                json={"views": [_wire(row) for row in rows]},
                region=tenant.region,
                tenant_context=context,
                tenant_id=cloud_id,
                attempt_seconds=ATTEMPT_SECONDS,
            )
            if answer.status != 200:
                raise ApiError(503, "analytics_refused", f"analytics answered {answer.status}")
        except (ApiError, OSError, ValueError) as failed:
            self._contexts.pop(cloud_id, None)
            attempts = await asyncio.to_thread(self._failed, shard, rows)
            log.warning(
                "page_views_left_for_retry",
                tenant_id=cloud_id,
                views=len(rows),
                attempts=attempts,
                reason=str(getattr(failed, "code", type(failed).__name__)),
            )
            return 0
        await asyncio.to_thread(self._remove, shard, rows)
        return len(rows)

    async def _context(self, cloud_id: str) -> tuple[TenantContext, str] | None:
        """The tenant and its signed context (reused briefly); None if tcs no longer knows the
        tenant or it was purged."""
        now = self._clock()
        cached = self._contexts.get(cloud_id)
        if cached is not None and cached[2] > now:
            return cached[0], cached[1]
        found = await self._client.call(
            "tcs",
            "GET",
            "/internal/tcs/tenants/by-cloud-id/{cloud_id}",
            params={"cloud_id": cloud_id},
            attempt_seconds=ATTEMPT_SECONDS,
        )
        if found.status == 404:
            return None
        if found.status != 200:
            raise ApiError(503, "tenant_unknown", f"tcs answered {found.status}")
        context = str(found.json()["context"])
        tenant = self._verifier.verify(context, time.time())
        if tenant.status == "purged":
            return None
        self._contexts[cloud_id] = (tenant, context, now + CONTEXT_REUSE_SECONDS)
        return tenant, context

    def _due(self, shard: str) -> list[Any]:
        """The due rows of `shard`, oldest first within each tenant (a tenant's rows together)."""
        with self._engine(shard).connect() as connection:
            rows = list(connection.execute(_DUE, {"now": self._clock()}).all())
        rows.sort(key=lambda r: (r.cloud_id, r.outbox_id))
        return rows

    def _soonest(self) -> float | None:
        """When the soonest row not yet due falls due, on any shard."""
        soonest: float | None = None
        for shard in self._shards:
            with self._engine(shard).connect() as connection:
                due = connection.execute(_SOONEST).scalar_one()
            if due is not None:
                soonest = float(due) if soonest is None else min(soonest, float(due))
        return soonest

    def _remove(self, shard: str, rows: list[Any]) -> None:
        ids = [row.outbox_id for row in rows]
        with self._engine(shard).begin() as connection:
            connection.execute(delete(ViewOutboxRow).where(ViewOutboxRow.outbox_id.in_(ids)))

    def _failed(self, shard: str, rows: list[Any]) -> int:
        attempts = max(int(row.attempts) for row in rows) + 1
        ids = [row.outbox_id for row in rows]
        with self._engine(shard).begin() as connection:
            connection.execute(
                update(ViewOutboxRow)
                .where(ViewOutboxRow.outbox_id.in_(ids))
                .values(attempts=attempts, next_attempt_at=self._clock() + backoff(attempts))
            )
        return attempts

    def _engine(self, shard: str) -> Engine:
        return self._databases.engine_for(shard)


def _wire(row: Any) -> dict[str, Any]:
    """A view as analytics takes it (an erased viewer as no account)."""
    account = None if row.account_id == FORMER_USER else str(row.account_id)
    return {
        "id": str(row.view_id),
        "page": str(row.page_id),
        "space": str(row.space_key),
        "account": account,
        "at": float(row.viewed_at),
    }


_COLUMNS = (
    ViewOutboxRow.outbox_id,
    ViewOutboxRow.cloud_id,
    ViewOutboxRow.view_id,
    ViewOutboxRow.page_id,
    ViewOutboxRow.space_key,
    ViewOutboxRow.account_id,
    ViewOutboxRow.viewed_at,
    ViewOutboxRow.attempts,
)
_DUE = (
    select(*_COLUMNS)
    .where(ViewOutboxRow.next_attempt_at <= bindparam("now"))
    .order_by(ViewOutboxRow.outbox_id)
    .limit(BATCH)
)
_SOONEST = select(func.min(ViewOutboxRow.next_attempt_at))
_COUNT = select(func.count()).select_from(ViewOutboxRow)
