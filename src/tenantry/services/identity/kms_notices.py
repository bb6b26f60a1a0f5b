"""Tell every region's kms when an account's role changes, or it is deactivated or removed, even
if kms is down.

kms rotates a root key whose owner changed, so the news must not get lost. A change and its
notices (one per region) are written in one transaction (`record`); a delivery loop in the
identity process then posts each notice to its region's kms
(`POST /internal/kms/owners/changed`) and deletes it once kms answers 2xx. A notice that fails
is retried with a growing pause (at most `MAX_BACKOFF_SECONDS`) for as long as it takes, across
restarts too, since it lives in the database. kms treats a repeated notice as a no-op, so
delivering one twice does no harm. While nothing is due the loop rests: the change that records
notices wakes it, and a notice waiting out its back-off wakes it when it falls due.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

import structlog
from sqlalchemy import delete, func, select, update

from tenantry.platform.background import BackgroundLoop, Idle
from tenantry.platform.client import ServiceClient
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.identity.models import KmsNotice

Change = Literal["role_changed", "deactivated", "removed"]

POLL_SECONDS = 2.0
"""The pause after a pass that tried notices."""
IDLE_POLL_SECONDS = 60.0
"""The longest rest of a loop that knows of no notice due."""
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
BATCH = 100

log = structlog.get_logger("tenantry.identity")


def backoff(attempts: int) -> float:
    """The pause before the next try after `attempts` failed ones."""
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


class KmsNotices:
    """The outbox of account changes for the kms of each region, and its delivery loop."""

    def __init__(
        self,
        databases: Databases,
        client: ServiceClient,
        regions: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._client = client
        self._regions = tuple(regions)
        self._clock = clock
        self.loop = BackgroundLoop(
            "kms-notices", self.deliver_due, POLL_SECONDS, idle_pause_seconds=IDLE_POLL_SECONDS
        )
        """Delivers due notices at once when woken, and retries them as they fall due."""

    def record(
        self, session: TenantSession, account_id: str, change: Change, role: str | None = None
    ) -> None:
        """Add a notice per region to `session`, so it commits (or not) with the change itself.

        `role` is the account's new role after a role change (None for a removal).
        """
        now = self._clock()
        session.add_all(
            KmsNotice(
                region=region,
                account_id=account_id,
                change=change,
                role=role,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
            for region in self._regions
        )

    def wake(self) -> None:
        """Deliver now rather than at the next poll (call after a change committed)."""
        self.loop.wake()

    async def deliver_due(self) -> int | Idle:
        """Post every notice whose time has come, oldest first; how many were delivered, or
        `Idle` (with the seconds until the soonest notice falls due) if none was due.

        Once a region's notice fails, that region's later notices wait for the next pass, so
        each kms hears of changes in the order they were made.
        """
        due, soonest = await asyncio.to_thread(self._due)
        if not due:
            return Idle(None if soonest is None else soonest - self._clock())
        failed_regions: set[str] = set()
        delivered = 0
        for notice in due:
            if notice.region in failed_regions:
                continue
            if await self._deliver(notice):
                delivered += 1
            else:
                failed_regions.add(notice.region)
        return delivered

    def pending(self) -> list[dict[str, Any]]:
        """Every notice not yet delivered, oldest first (for operators and tests)."""
        with self._engine().connect() as connection:
            rows = connection.execute(_PENDING).all()
        return [row._asdict() for row in rows]

    async def _deliver(self, notice: Any) -> bool:
        body = {"account": notice.account_id, "change": notice.change, "role": notice.role}
        try:
            answer = await self._client.call(
                "kms", "POST", "/internal/kms/owners/changed", json=body, region=notice.region
            )
        except (ApiError, OSError, ValueError) as exc:
            reason = getattr(exc, "code", type(exc).__name__)
            await asyncio.to_thread(self._failed, notice, str(reason))
            return False
        if 200 <= answer.status < 300:
            await asyncio.to_thread(self._delivered, notice)
            log.info(
                "kms_notice_delivered",
                notice_id=notice.notice_id,
                kms_region=notice.region,
                change=notice.change,
            )
            return True
        await asyncio.to_thread(self._failed, notice, f"status {answer.status}")
        return False

    def _engine(self) -> Any:
        return self._databases.engine_for(GLOBAL_SHARD)

    def _due(self) -> tuple[list[Any], float | None]:
        """The notices due now (oldest first), and when the soonest of all falls due."""
        with self._engine().connect() as connection:
            due = connection.execute(
                _PENDING.where(KmsNotice.next_attempt_at <= self._clock()).limit(BATCH)
            ).all()
            soonest = None if due else connection.execute(_SOONEST).scalar_one()
        return list(due), soonest

    def _delivered(self, notice: Any) -> None:
        with self._engine().begin() as connection:
            connection.execute(delete(KmsNotice).where(KmsNotice.notice_id == notice.notice_id))

    def _failed(self, notice: Any, reason: str) -> None:
        attempts = notice.attempts + 1
        pause = backoff(attempts)
        with self._engine().begin() as connection:
            connection.execute(
                update(KmsNotice)
                .where(KmsNotice.notice_id == notice.notice_id)
                .values(attempts=attempts, next_attempt_at=self._clock() + pause)
            )
        log.warning(
            "kms_notice_failed",
            notice_id=notice.notice_id,
            kms_region=notice.region,
            change=notice.change,
            reason=reason,
            attempts=attempts,
            retry_in=pause,
        )


_SOONEST = select(func.min(KmsNotice.next_attempt_at))
_PENDING = select(
    KmsNotice.notice_id,
    KmsNotice.region,
    KmsNotice.account_id,
    KmsNotice.change,
    KmsNotice.role,
    KmsNotice.attempts,
    KmsNotice.next_attempt_at,
).order_by(KmsNotice.notice_id)
