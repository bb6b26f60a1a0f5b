"""Make sure a purged issue's attachments really go from media, even if media is down then.

Purging an issue (or one attachment) from the trash writes, in the same transaction, an
`attachment_deletions` row naming the issue's media collection (or the one file: a target
`issues:KEY/FILE_ID`) (`record`). Once the transaction commits, the collection is deleted
in media at once (`carry_out`), with each call to media bounded so a stuck media cannot hold
the request; on success the row goes. A row that is left (media down, frozen, or refusing) is
retried by a loop in the issues process with a growing pause (at most `MAX_BACKOFF_SECONDS`)
for as long as it takes, across restarts too, since it lives in the database. The loop rests
while nothing is due: a deletion left for it wakes it, and it sleeps until the next retry falls
due (or `IDLE_POLL_SECONDS`, for rows another process of the region left). Media treats the
delete of a collection that is already empty (or answers 404 for one it does not know) as
done, so a repeated delete does no harm.

The rows are tenant-owned (row-level security hides them unless their tenant is named), so the
loop finds its work through `attachment_cleanup_tenants`: the cloud id and site of each tenant
that may have rows on the shard, noted before the deleting transaction. To call media for a
tenant, the loop fetches the tenant's signed context from tcs. A purged tenant's rows are
dropped: its data is crypto-shredded anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine, bindparam, delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from tenantry.platform.background import BackgroundLoop, Idle
from tenantry.platform.context import (
    TenantContext,
    UserContext,
    current_tenant_token,
    require_tenant,
    tenant_scope,
)
from tenantry.platform.errors import ApiError
from tenantry.platform.noted_tenants import Noted, NotedTenants
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.tenant_session import TenantSession
from tenantry.services.issues.media_files import (
    UPLOAD_LIFETIME,
    MediaFiles,
    MediaToken,
    collection_of,
)
from tenantry.services.issues.models import AttachmentDeletion, attachment_cleanup_tenants

ATTEMPT_SECONDS = 2.0
"""How long each call to media may take, so a stuck media cannot hold a DELETE request."""
POLL_SECONDS = 1.0
"""The pause after a pass that tried deletions."""
IDLE_POLL_SECONDS = 60.0
"""The longest rest of a loop that knows of nothing due."""
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
NOTE_GRACE_SECONDS = 60.0
"""A tenant's note outlives its last row this long, so a deletion still committing (its note
written, its row not yet visible) is never left without one."""
BATCH = 100

log = structlog.get_logger("tenantry.issues.attachment_deletions")


def backoff(attempts: int) -> float:
    """The pause before the next try after `attempts` failed ones."""
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


def collection_target(issue_key: str) -> str:
    """The outbox target that deletes every file of an issue (its media collection)."""
    return collection_of(issue_key)


def file_target(issue_key: str, file_id: str) -> str:
    """The outbox target that deletes one file of an issue."""
    return f"{collection_of(issue_key)}/{file_id}"


def _split_target(target: str) -> tuple[str, str | None]:
    """The collection of a target, and its file (None: the whole collection)."""
    collection, _, file_id = target.partition("/")
    return collection, file_id or None


class TenantFinder(Protocol):
    """Where the loop learns a tenant's signed context (tcs, in the service)."""

    async def by_site(self, site: str) -> tuple[TenantContext, str] | None:
        """The tenant of `site` and its signed context; None if there is no such site."""
        ...


@dataclass(frozen=True, slots=True)
class _Pass:
    """What one pass over a tenant's deletions did: how many were done, whether any was tried,
    and when the soonest one not tried falls due."""

    done: int
    tried: bool
    next_due: float | None


class AttachmentDeletions:
    """The outbox of media collections to delete, and the loop that empties it."""

    def __init__(
        self,
        databases: Databases,
        media: MediaFiles,
        tenants: TenantFinder,
        region: str,
        shards: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._databases = databases
        self._media = media
        self._tenants = tenants
        self._region = region
        self._shards = tuple(shards)
        self._clock = clock
        self._notes = NotedTenants(attachment_cleanup_tenants, self._engine, clock)
        self.loop = BackgroundLoop(
            "attachment-deletions",
            self.deliver_due,
            POLL_SECONDS,
            idle_pause_seconds=IDLE_POLL_SECONDS,
        )
        """Retries due deletions: woken by a deletion left for it, resting while none is due."""

    # In the purging request, in this order: prepare, record (same transaction), carry_out.

    def prepare(self) -> None:
        """Note the current tenant on its shard, before the deleting transaction begins."""
        tenant = require_tenant()
        self._notes.note(tenant.shard, tenant.cloud_id, tenant.site)

    def note(self, shard: str, cloud_id: str, site: str) -> None:
        """Note a tenant on `shard` before a transaction of its records media deletions
        (a loop, acting for a tenant outside any request)."""
        self._notes.note(shard, cloud_id, site)

    def record(self, session: TenantSession, target: str) -> None:
        """Add a target (`collection_target`, `file_target`) to `session`, so it commits (or
        not) with the purge."""
        now = self._clock()
        session.insert_rows(
            AttachmentDeletion,
            [
                {
                    "collection": target,
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            ],
        )

    async def carry_out(self, target: str, user: UserContext | None) -> None:
        """Delete the target in media now; what fails is left to the loop.

        The purge has committed by now, so this never fails the request: if writing down the
        outcome fails, the row stays due and the loop deletes (again) and clears it.
        """
        collection = target
        succeeded = await self._attempt(collection, user)
        try:
            if succeeded:
                self._done(collection)
            else:
                self._failed(collection, 0)
                tenant = require_tenant()
                self._notes.note(tenant.shard, tenant.cloud_id, tenant.site)
                self.loop.wake()
        except SQLAlchemyError as error:
            log.warning(
                "attachment_deletion_unrecorded",
                collection=collection,
                media_done=succeeded,
                reason=type(error).__name__,
            )

    # The loop.

    async def deliver_due(self) -> int | Idle:
        """Try every deletion whose time has come, on every shard; how many were done, or
        `Idle` (with the seconds until the next retry falls due) if none was due."""
        done = 0
        tried = False
        next_due: float | None = None
        for shard in self._shards:
            noted = await asyncio.to_thread(self._notes.noted, shard)
            for tenant in noted:
                try:
                    outcome = await self._tenant(shard, tenant)
                except (ApiError, OSError) as error:  # tcs could not say: try next time
                    tried = True
                    log.warning(
                        "attachment_deletions_postponed",
                        shard=shard,
                        tenant=tenant.cloud_id,
                        reason=getattr(error, "code", type(error).__name__),
                    )
                    continue
                done += outcome.done
                tried = tried or outcome.tried
                if outcome.next_due is not None:
                    next_due = (
                        outcome.next_due if next_due is None else min(next_due, outcome.next_due)
                    )
        if tried:
            return done
        return Idle(None if next_due is None else next_due - self._clock())

    def pending(self, shard: str, cloud_id: str) -> list[dict[str, Any]]:
        """A tenant's deletions not yet done on `shard`, oldest first (operators and tests)."""
        with (
            tenant_scope(self._local(shard, cloud_id, "")),
            self._databases.session() as session,
        ):
            rows = session.rows(_ALL.limit(BATCH)).all()
        return [row._asdict() for row in rows]

    async def _tenant(self, shard: str, noted: Noted) -> _Pass:
        """Try a tenant's due deletions on `shard`, acting as that tenant."""
        local = self._local(shard, noted.cloud_id, noted.site)
        with tenant_scope(local):
            due, left, next_due = await asyncio.to_thread(self._due)
        if left == 0:
            if noted.noted_at < self._clock() - NOTE_GRACE_SECONDS:
                await asyncio.to_thread(self._notes.forget, shard, noted)
            return _Pass(0, False, None)
        if not due:
            return _Pass(0, False, next_due)
        found = await self._tenants.by_site(noted.site)
        if found is None or found[0].cloud_id != noted.cloud_id or found[0].status == "purged":
            with tenant_scope(local):
                await asyncio.to_thread(self._drop_all)
            await asyncio.to_thread(self._notes.forget, shard, noted)
            log.info("attachment_deletions_dropped", tenant=noted.cloud_id, rows=left)
            return _Pass(0, True, None)
        tenant, token = found
        done = 0
        for collection, attempts in due:
            with tenant_scope(tenant):
                marker = current_tenant_token.set(token)
                try:
                    succeeded = await self._attempt(collection, None)
                finally:
                    current_tenant_token.reset(marker)
            with tenant_scope(local):
                if succeeded:
                    await asyncio.to_thread(self._done, collection)
                    done += 1
                else:
                    await asyncio.to_thread(self._failed, collection, attempts)
        return _Pass(done, True, None)

    async def _attempt(self, target: str, user: UserContext | None) -> bool:
        """Ask media (as the current tenant) to delete `target`; whether it is gone."""
        collection, file_id = _split_target(target)
        try:
            token = await self._media.token(
                collection, ["delete"], user, UPLOAD_LIFETIME, attempt_seconds=ATTEMPT_SECONDS
            )
            if file_id is None:
                await self._media.delete_collection(token, user, attempt_seconds=ATTEMPT_SECONDS)
            else:
                await self._delete_file(token, file_id)
        except (ApiError, OSError, ValueError) as failed:
            log.warning(
                "attachments_delete_failed",
                collection=target,
                reason=getattr(failed, "code", type(failed).__name__),
            )
            return False
        log.info("attachments_deleted", collection=target)
        return True

    async def _delete_file(self, token: MediaToken, file_id: str) -> None:
        """Delete one file; one media no longer has counts as deleted."""
        try:
            await self._media.delete_file(token, file_id, None, attempt_seconds=ATTEMPT_SECONDS)
        except ApiError as refused:
            if refused.code != "attachment_not_found":
                raise

    def _local(self, shard: str, cloud_id: str, site: str) -> TenantContext:
        """A context naming a tenant to its own rows on `shard` (never sent anywhere)."""
        return TenantContext(
            cloud_id=cloud_id, site=site, region=self._region, shard=shard, status="active"
        )

    def _due(self) -> tuple[list[tuple[str, int]], int, float | None]:
        """The current tenant's due deletions (oldest first), how many it has at all, and when
        the soonest of them falls due."""
        with self._databases.session() as session:
            left, soonest = tuple(session.rows(_COUNT).one())
            due = session.rows(_DUE, {"now": self._clock()}).all()
        return [(row.collection, row.attempts) for row in due], int(left), soonest

    def _done(self, collection: str) -> None:
        with self._databases.session() as session:
            session.rows(_REMOVE, {"collection_name": collection})

    def _failed(self, collection: str, attempts: int) -> None:
        attempts += 1
        pause = backoff(attempts)
        with self._databases.session() as session:
            session.rows(
                _RETRY_LATER,
                {
                    "collection_name": collection,
                    "new_attempts": attempts,
                    "new_next_attempt_at": self._clock() + pause,
                },
            )
        log.warning(
            "attachments_left_for_retry", collection=collection, attempts=attempts, retry_in=pause
        )

    def _drop_all(self) -> None:
        with self._databases.session() as session:
            session.rows(delete(AttachmentDeletion))

    def _engine(self, shard: str) -> Engine:
        return self._databases.engine_for(shard)


_ALL = select(
    AttachmentDeletion.collection,
    AttachmentDeletion.created_at,
    AttachmentDeletion.attempts,
    AttachmentDeletion.next_attempt_at,
).order_by(AttachmentDeletion.created_at, AttachmentDeletion.collection)
_COUNT = select(func.count(), func.min(AttachmentDeletion.next_attempt_at)).select_from(
    AttachmentDeletion
)
_DUE = (
    select(AttachmentDeletion.collection, AttachmentDeletion.attempts)
    .where(AttachmentDeletion.next_attempt_at <= bindparam("now"))
    .order_by(AttachmentDeletion.next_attempt_at, AttachmentDeletion.collection)
    .limit(BATCH)
)
_REMOVE = delete(AttachmentDeletion).where(
    AttachmentDeletion.collection == bindparam("collection_name")
)
_RETRY_LATER = (
    update(AttachmentDeletion)
    .where(AttachmentDeletion.collection == bindparam("collection_name"))
    .values(attempts=bindparam("new_attempts"), next_attempt_at=bindparam("new_next_attempt_at"))
)
