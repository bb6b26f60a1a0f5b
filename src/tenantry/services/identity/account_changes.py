"""The feed of account changes every edge follows, so a revocation or a new role lands at once.

A change that affects what an account's tokens may do (role changed, deactivated, deleted, one
token or all of them revoked) adds a row here in the same transaction, naming the tenant and
the account. Each edge long-polls `GET /internal/identity/account-changes` and drops what it
holds of each account named, so its next request looks the account up again. Like tcs's feed,
the rows say only *which* account changed; the edge asks identity for *how* it is now.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, select

from tenantry.platform.change_feed import CHANGE_HEADER, MAX_WAIT_SECONDS, ChangeFeed
from tenantry.platform.context import require_tenant
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.identity.models import AccountChange

PATH = "/internal/identity/account-changes"
BATCH = 1000


class AccountChanges:
    """Record account changes with the change itself; answer the edges that follow them."""

    def __init__(self, databases: Databases, clock: Callable[[], float] = time.time) -> None:
        self._databases = databases
        self._clock = clock
        self._feed = ChangeFeed()

    def record(self, session: TenantSession, account_id: str) -> AccountChange:
        """Add a change of the current tenant's `account_id` to `session`, to commit with it.

        Its `seq` is known once the session has written it.
        """
        cloud_id = require_tenant().cloud_id
        change = AccountChange(cloud_id=cloud_id, account_id=account_id, at=self._clock())
        session.add(change)
        return change

    def committed(self, response: Response, change: AccountChange) -> None:
        """Wake the following edges, and name the change on the answer: the edge holds the
        answer until it has followed the feed that far, so its next request sees the change."""
        response.headers[CHANGE_HEADER] = str(change.seq)
        self.notify()

    def notify(self) -> None:
        """Wake the following edges (call once the change has committed)."""
        self._feed.notify()

    async def poll(self, after: int, wait: float) -> dict[str, Any]:
        """The changes after `after`, waiting up to `wait` seconds for one (see `ChangeFeed`)."""
        return await self._feed.poll(after, wait, self.changes_after)

    def changes_after(self, seq: int) -> tuple[int, list[dict[str, Any]]]:
        """The latest change number, and the changes after `seq` (at most BATCH), in order."""
        engine = self._databases.engine_for(GLOBAL_SHARD)
        with engine.connect() as connection:
            latest = connection.execute(select(func.max(AccountChange.seq))).scalar() or 0
            rows = connection.execute(
                select(AccountChange.seq, AccountChange.cloud_id, AccountChange.account_id)
                .where(AccountChange.seq > seq)
                .order_by(AccountChange.seq)
                .limit(BATCH)
            ).all()
        return latest, [dict(row._mapping) for row in rows]


def build_feed_router(changes: AccountChanges) -> APIRouter:
    """The feed route (edges only, by the allowlist)."""
    router = APIRouter()

    @router.get(PATH)
    async def account_changes(
        after: int = Query(-1, ge=-1), wait: float = Query(0.0, ge=0.0, le=MAX_WAIT_SECONDS)
    ) -> dict[str, object]:
        return await changes.poll(after, wait)

    return router
