"""Pages' trash purge: the platform's loop (`platform.trash_purges`) erasing deleted pages.

A deletion in the trash (a page with the pages deleted with it) goes for good once it is
`[retention] trash_days` old, the setting issues' trash follows too: its pages, every version
and search term of each. A restore of it answers 404 `trash_item_not_found` after.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tenantry.platform.noted_tenants import Noted
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.platform.trash_purges import TrashPurgeLoop
from tenantry.services.pages import trash
from tenantry.services.pages.models import trash_tenants


class PagesTrashBin:
    """Pages' trash as the purge loop sees it: one item per deletion (its top page's id)."""

    def due(self, session: TenantSession, deleted_before: float, limit: int) -> list[str]:
        """Up to `limit` deletions made before `deleted_before`, oldest first."""
        return trash.due(session, deleted_before, limit)

    def erase(self, session: TenantSession, trash_id: str) -> bool:
        """Erase a deletion's pages; False when it was restored meanwhile."""
        return trash.erase_deletion(session, trash_id) is not None

    def count(self, session: TenantSession) -> int:
        """How many pages the current tenant's trash holds."""
        return trash.count(session)

    def before_tenant(self, shard: str, noted: Noted) -> None:
        """Nothing else follows a page's erasure."""

    def after_pass(self, erased: int) -> None:
        """Nothing else follows a page's erasure."""


class TrashPurges:
    """What pages' deletions tell the purge loop (`Trashing`), and the loop itself."""

    def __init__(
        self,
        databases: Databases,
        region: str,
        shards: Sequence[str],
        trash_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._purges = TrashPurgeLoop(
            databases, trash_tenants, PagesTrashBin(), region, shards, trash_seconds, clock
        )
        self.loop = self._purges.loop
        """Purges every deletion older than `trash_seconds`, every POLL_SECONDS."""

    def now(self) -> float:
        """The time a deletion is recorded at."""
        return self._purges.now()

    def prepare(self) -> None:
        """Note the current tenant on its shard, before a transaction that trashes pages."""
        self._purges.prepare()

    async def purge_due(self) -> int:
        """Erase every deletion whose time has come, on every shard; how many were erased."""
        return await self._purges.purge_due()
