"""How a service writes audit events: into an outbox in its own database, in the same
transaction as the change each records, drained to the tenant's region's audit service.

So a change and its event either both happen or neither does, and an event committed just
before its process dies is delivered when the process is back. A service declares its outbox
table by mixing `AuditOutboxColumns` into one of its models (table `audit_outbox`, created by
its own revision), records with `record(session, event)` and runs `loop` among its loops.
Delivery is at least once; the audit service keeps the first copy of an event id. While
nothing is due the loop rests: the change that records an event wakes it (`wake`, once
committed), and an event waiting out its back-off wakes it when it falls due. An outbox on a
database the processes of several regions share (kms's global one) is given its `region`, and
delivers only its own region's tenants' events from it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from itertools import groupby
from typing import Any

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    String,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from tenantry.platform.audit.events import AuditEvent
from tenantry.platform.audit.operator_log import OPERATOR_LOG_ID
from tenantry.platform.background import BackgroundLoop, Idle
from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext, require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.model import TENANT_ID_LENGTH
from tenantry.platform.storage.tenant_session import TenantSession

POLL_SECONDS = 0.5
"""The pause after a pass that delivered events (more may wait behind a full batch)."""
IDLE_POLL_SECONDS = 60.0
"""The longest rest of a loop that knows of no event due (a safety net for events recorded
by another process of the service)."""
BATCH = 200
MAX_BACKOFF_SECONDS = 30.0

log = structlog.get_logger("tenantry.audit")


class AuditOutboxColumns:
    """The columns of a service's `audit_outbox` table (mix into one of its models).

    Its tenant column is deliberately not `tenant_id`: on PostgreSQL that name puts a table
    under row-level security, which would hide the rows from the loop that drains them all.
    """

    outbox_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cloud_id: Mapped[str] = mapped_column(String(TENANT_ID_LENGTH))
    event: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[float] = mapped_column(Float)


def backoff(attempts: int) -> float:
    """The pause before the next try after `attempts` failed ones."""
    return float(min(MAX_BACKOFF_SECONDS, POLL_SECONDS * 2 ** max(0, attempts - 1)))


_ELSEWHERE = float("inf")
"""What `_deliver` answers for a tenant of another region: left for that region to deliver."""
ELSEWHERE_RECHECK_SECONDS = 5.0
"""When events left for another region are looked at again: a tenant moving into this region
has events recorded here before tcs names this region its home."""

OperatorDelivery = Callable[[list[dict[str, Any]]], Awaitable[None]]
"""Delivers a batch of operator events (as `AuditEvent.wire` gives them) to the operator log,
raising `ApiError` if it is refused (`operator_delivery.delivery_to_operator_log`)."""
ContextSource = Callable[[str], Awaitable[tuple[TenantContext, str]]]
"""The tenant of a cloud id and its signed context, whatever the tenant's status."""


class AuditOutbox:
    """A service's outbox of audit events and the loop that delivers it."""

    def __init__(
        self,
        row: type[AuditOutboxColumns],
        engine_for: Callable[[str], Engine],
        shards: Sequence[str],
        client: ServiceClient,
        contexts: ContextSource,
        clock: Callable[[], float] = time.time,
        region: str | None = None,
        operator_log: OperatorDelivery | None = None,
    ) -> None:
        self._operator_log = operator_log
        """How an outbox that records operator events (under the log id `OPERATOR_LOG_ID`
        rather than a tenant's cloud id) delivers them; None if it records none."""
        self._region = region
        """Deliver only the events of tenants homed in this region (for an outbox on a
        database several regions' processes share), or all of them (None)."""
        self._row: Any = row
        self._engine_for = engine_for
        self._shards = tuple(shards)
        self._client = client
        self._contexts = contexts
        self._clock = clock
        self.loop = BackgroundLoop(
            "audit-outbox", self.deliver_due, POLL_SECONDS, idle_pause_seconds=IDLE_POLL_SECONDS
        )
        """Delivers due events at once when woken, and retries them as they fall due."""

    def record(self, session: TenantSession, event: AuditEvent) -> None:
        """Add `event` of the current tenant to `session`: it commits with the change."""
        session.insert_untenanted(self._row, self._values(require_tenant().cloud_id, event))

    def record_operator_event(self, connection: Connection, event: AuditEvent) -> None:
        """Add `event` for the operator log to the transaction `connection` is in: it is
        delivered to the operator log, never to any tenant's."""
        if self._operator_log is None:
            raise ValueError("this outbox was given no operator log to deliver to")
        connection.execute(insert(self._row.__table__).values(self._values(OPERATOR_LOG_ID, event)))

    def record_on(self, connection: Connection, cloud_id: str, event: AuditEvent) -> None:
        """Add `event` of tenant `cloud_id` to the transaction `connection` is in (for a
        service whose changes are not tenant sessions: tcs's catalog)."""
        connection.execute(insert(self._row.__table__).values(self._values(cloud_id, event)))

    def _values(self, cloud_id: str, event: AuditEvent) -> dict[str, Any]:
        return {
            "cloud_id": cloud_id,
            "event": json.dumps(event.wire()),
            "attempts": 0,
            "next_attempt_at": self._clock(),
        }

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call once the change committed)."""
        self.loop.wake()

    async def deliver_due(self) -> int | Idle:
        """Deliver the events waiting, each tenant's in the order recorded; how many were, or
        `Idle` (with the seconds until the soonest retry falls due) if none was."""
        delivered = 0
        soonest: float | None = None
        for shard in self._shards:
            pending = await asyncio.to_thread(self._pending, shard)
            now = self._clock()
            for cloud_id, rows in groupby(pending, key=lambda r: str(r.cloud_id)):
                batch = list(rows)
                # A tenant whose oldest event waits out a failure waits whole, so its log
                # keeps the order its events were recorded in.
                due_at = batch[0].next_attempt_at
                if due_at <= now:
                    retry_at = await self._deliver(shard, cloud_id, batch)
                    if retry_at is None:
                        delivered += len(batch)
                        continue
                    # Another region's process delivers it, unless the tenant moves here.
                    elsewhere = retry_at == _ELSEWHERE
                    due_at = now + ELSEWHERE_RECHECK_SECONDS if elsewhere else retry_at
                soonest = due_at if soonest is None else min(soonest, due_at)
        if delivered:
            return delivered
        return Idle(None if soonest is None else max(0.0, soonest - self._clock()))

    def pending(self) -> int:
        """How many events wait for delivery (for tests and operators)."""
        count = 0
        for shard in self._shards:
            with self._engine_for(shard).connect() as connection:
                count += len(connection.execute(select(self._row.outbox_id)).all())
        return count

    async def _deliver(self, shard: str, cloud_id: str, rows: list[Any]) -> float | None:
        """Post one tenant's batch; None once delivered, `_ELSEWHERE` for a tenant of
        another region, else when it is tried again."""
        try:
            if cloud_id == OPERATOR_LOG_ID:
                await self._deliver_operator(rows)
            elif await self._deliver_tenant(cloud_id, rows) == _ELSEWHERE:
                return _ELSEWHERE
        except (ApiError, OSError, ValueError) as exc:
            reason = getattr(exc, "code", type(exc).__name__)
            retry_at = await asyncio.to_thread(self._failed, shard, rows)
            log.warning("audit_delivery_failed", tenant_id=cloud_id, reason=str(reason))
            return retry_at
        await asyncio.to_thread(self._delivered, shard, rows)
        return None

    async def _deliver_tenant(self, cloud_id: str, rows: list[Any]) -> float | None:
        """Post a batch to the tenant's log; `_ELSEWHERE` for a tenant of another region."""
        tenant, context = await self._contexts(cloud_id)
        if self._region is not None and tenant.region != self._region:
            return _ELSEWHERE
        answer = await self._client.call(
            "audit",
            "POST",
            "/internal/audit/events",
            json={"events": [json.loads(row.event) for row in rows]},
            region=tenant.region,
            tenant_context=context,
            tenant_id=cloud_id,
        )
        if answer.status != 201:
            raise ApiError(503, "audit_refused", f"audit answered {answer.status}")
        return None

    async def _deliver_operator(self, rows: list[Any]) -> None:
        """Hand a batch of operator events to the operator log."""
        if self._operator_log is None:
            raise ApiError(503, "no_operator_log", "this outbox has no operator log")
        await self._operator_log([json.loads(row.event) for row in rows])

    def _pending(self, shard: str) -> list[Any]:
        row = self._row
        with self._engine_for(shard).connect() as connection:
            return list(
                connection.execute(
                    select(
                        row.outbox_id, row.cloud_id, row.event, row.attempts, row.next_attempt_at
                    )
                    .order_by(row.cloud_id, row.outbox_id)
                    .limit(BATCH)
                ).all()
            )

    def _delivered(self, shard: str, rows: list[Any]) -> None:
        ids = [r.outbox_id for r in rows]
        with self._engine_for(shard).begin() as connection:
            connection.execute(delete(self._row).where(self._row.outbox_id.in_(ids)))

    def _failed(self, shard: str, rows: list[Any]) -> float:
        attempts = max(r.attempts for r in rows) + 1
        ids = [r.outbox_id for r in rows]
        retry_at = self._clock() + backoff(attempts)
        with self._engine_for(shard).begin() as connection:
            connection.execute(
                update(self._row)
                .where(self._row.outbox_id.in_(ids))
                .values(attempts=attempts, next_attempt_at=retry_at)
            )
        return retry_at
