"""Issues' trash purge: the platform's loop (`platform.trash_purges`), erasing issues,
comments and attachments, and an admin's purge of one item at once.

Purging an item erases its rows in one transaction with the outbox entry that deletes its media
(`AttachmentDeletions`), so a purged attachment's blob goes from media even if media is down at
the time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import structlog

from tenantry.platform.context import UserContext
from tenantry.platform.errors import ApiError
from tenantry.platform.noted_tenants import Noted
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.platform.trash_purges import TrashPurgeLoop
from tenantry.services.issues import trash
from tenantry.services.issues.attachment_deletions import ATTEMPT_SECONDS, AttachmentDeletions
from tenantry.services.issues.media_files import UPLOAD_LIFETIME, MediaFiles, collection_of
from tenantry.services.issues.models import trash_tenants

log = structlog.get_logger("tenantry.issues.trash_purges")


class IssuesTrashBin:
    """Issues' trash as the purge loop sees it: erasing hands an item's media to the outbox."""

    def __init__(self, deletions: AttachmentDeletions) -> None:
        self._deletions = deletions

    def due(self, session: TenantSession, deleted_before: float, limit: int) -> list[str]:
        """Ids of up to `limit` items deleted before `deleted_before`, oldest first."""
        return trash.due(session, deleted_before, limit)

    def erase(self, session: TenantSession, trash_id: str) -> bool:
        """Erase an item and record its media in the outbox, in the same transaction."""
        entry = trash.find_unopened(session, trash_id)
        if entry is None:  # gone with its issue, or restored meanwhile
            return False
        target = trash.erase(session, entry)
        if target is not None:
            self._deletions.record(session, target)
        return True

    def count(self, session: TenantSession) -> int:
        """How many items the current tenant's trash holds."""
        return trash.count(session)

    def before_tenant(self, shard: str, noted: Noted) -> None:
        """Note the tenant for the outbox before any of its erasures commits."""
        self._deletions.note(shard, noted.cloud_id, noted.site)

    def after_pass(self, erased: int) -> None:
        """Wake the outbox when a pass left media to delete."""
        if erased:
            self._deletions.loop.wake()


class TrashPurges:
    """Erases trashed items for good: at an admin's word, or once they are old enough."""

    def __init__(
        self,
        databases: Databases,
        deletions: AttachmentDeletions,
        media: MediaFiles,
        region: str,
        shards: Sequence[str],
        trash_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._deletions = deletions
        self._media = media
        self._purges = TrashPurgeLoop(
            databases,
            trash_tenants,
            IssuesTrashBin(deletions),
            region,
            shards,
            trash_seconds,
            clock,
        )
        self.loop = self._purges.loop
        """Purges every item older than `trash_seconds`, every POLL_SECONDS."""

    def now(self) -> float:
        """The time a deletion is recorded at."""
        return self._purges.now()

    def prepare(self) -> None:
        """Note the current tenant on its shard, before a transaction that trashes something."""
        self._purges.prepare()

    async def hide_attachments(self, issue_key: str, user: UserContext) -> None:
        """Put a trashed issue's attachments in the trash in media too, so no link to them
        handed out before works. Best effort: the issue is in the trash already, and a link
        outlives a miss by LINK_LIFETIME at most."""
        try:
            token = await self._media.token(
                collection_of(issue_key),
                ["delete"],
                user,
                UPLOAD_LIFETIME,
                attempt_seconds=ATTEMPT_SECONDS,
            )
            await self._media.trash_collection(token, user, attempt_seconds=ATTEMPT_SECONDS)
        except (ApiError, OSError, ValueError) as failed:
            log.warning(
                "trashed_issue_attachments_still_served",
                issue=issue_key,
                reason=getattr(failed, "code", type(failed).__name__),
            )

    async def purge_now(self, trash_id: str, user: UserContext) -> None:
        """Erase one item of the current tenant's trash now (an admin asked); 404
        `trash_item_not_found` for an id it does not hold."""
        self._deletions.prepare()
        with self._databases.session() as session:
            entry = trash.find_unopened(session, trash_id)
            if entry is None:
                raise trash.not_found()
            target = trash.erase(session, entry)
            if target is not None:
                self._deletions.record(session, target)
        if target is not None:
            await self._deletions.carry_out(target, user)

    async def purge_due(self) -> int:
        """Erase every item whose time has come, on every shard; how many were erased."""
        return await self._purges.purge_due()
