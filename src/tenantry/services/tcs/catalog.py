"""The tenant catalog: every site's cloud id, home region, shard and status.

The catalog is global control-plane data, not tenant data, so it is a plain table rather than a
tenant-scoped one. Every change is also appended to a change feed that edges follow.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    false,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase

from tenantry.platform.audit.events import AuditEvent, current_actor
from tenantry.platform.audit.outbox import AuditOutbox, AuditOutboxColumns
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.migrations import ServiceSchema
from tenantry.platform.topology import Topology

SITE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
RESERVED_SITES = frozenset({"www", "api", "admin", "edge", "tenantry", "status", "login", "signup"})
STATUSES = ("active", "suspended", "moving", "restoring", "deleted", "purging", "purged")
DELETED = "deleted"
"""Unreachable, but undeletable until its grace period ends."""
PURGING = "purging"
"""Its keys are being destroyed: it can no longer be undeleted."""
PURGED = "purged"
"""Its keys are destroyed: nothing of it can be read again, and its name stays taken."""
GONE = frozenset({DELETED, PURGING, PURGED})
"""Statuses a site only leaves by `undelete` (deleted) or never (purging, purged)."""

STATUS_ACTIONS = {
    "active": "tenant_resumed",
    "suspended": "tenant_suspended",
    "moving": "tenant_moving",
    "restoring": "tenant_restoring",
}
"""The audit action of each status change (only the operator changes a tenant's status); a
deletion, undeletion and purge record `tenant_deleted`, `tenant_undeleted`, `tenant_purged`."""

metadata = MetaData()


class TcsBase(DeclarativeBase):
    """Declarative base over tcs's metadata, for the one mapped table (the audit outbox)."""

    metadata = metadata


class AuditOutboxRow(AuditOutboxColumns, TcsBase):
    """A tenant's status change to record in its audit log, written with the change."""

    __tablename__ = "audit_outbox"


tenants = Table(
    "tenants",
    metadata,
    Column("cloud_id", String(36), primary_key=True),
    Column("site", String(63), nullable=False, unique=True),
    Column("region", String(32), nullable=False),
    Column("shard", String(32), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    # False while the tenant's own key (BYOK) is disabled or revoked; kept apart from `status`,
    # so a suspended tenant stays suspended when its key comes back.
    Column("key_available", Boolean, nullable=False, server_default=true()),
    # When it was deleted (undeletable until the grace period ends), and the status it had then.
    Column("deleted_at", Float, nullable=True),
    Column("status_before_delete", String(16), nullable=True),
    # Pinned to its region at sign-up: only a move told to unpin it takes it out of there.
    Column("pinned", Boolean, nullable=False, server_default=false()),
    # The shard a move under way copies the site to (registered before anything is copied,
    # cleared at the switch or when the move stops): kms and media hand the site's keys and
    # blobs only to that shard's region.
    Column("move_to_shard", String(32), nullable=True),
)
TENANT_COLUMNS = (
    tenants.c.cloud_id,
    tenants.c.site,
    tenants.c.region,
    tenants.c.shard,
    tenants.c.status,
    tenants.c.key_available,
)
RECORD_COLUMNS = (*TENANT_COLUMNS, tenants.c.pinned, tenants.c.deleted_at, tenants.c.created_at)
changes = Table(
    "changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("cloud_id", String(36), nullable=False),
    Column("site", String(63), nullable=False),
    Column("at", Float, nullable=False),
)
legal_requests = Table(
    "legal_requests",
    metadata,
    Column("request_id", Integer, primary_key=True, autoincrement=True),
    Column("jurisdiction", String(2), nullable=False),
    Column("request_type", String(24), nullable=False),
    Column("reference", String(128), nullable=True),
    Column("sites", Text, nullable=False),
    Column("accounts_named", Text, nullable=False),
    Column("received", String(10), nullable=False, index=True),
    Column("state", String(24), nullable=False),
    Column("disclosure", String(16), nullable=True),
    Column("notice_sent", String(10), nullable=True),
    Column("notice_withheld_reason", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)
"""The transparency register (`legal_register`): one row per government or legal request,
its sites and accounts as JSON lists of names and account ids."""
SCHEMA = ServiceSchema(
    "tcs", metadata, Path(__file__).with_name("migrations"), head_revision="0007"
)
"""The catalog's tables on the global database, built by tcs's revisions."""


@dataclass(frozen=True, slots=True)
class Tenant:
    """One catalog row."""

    cloud_id: str
    site: str
    region: str
    shard: str
    status: str
    key_available: bool = True

    def context(self) -> TenantContext:
        """The part of the row that goes into a signed tenant context."""
        return TenantContext(
            self.cloud_id, self.site, self.region, self.shard, self.status, self.key_available
        )

    def public(self) -> dict[str, object]:
        """The row as JSON."""
        return asdict(self)


def validate_site(site: str) -> str:
    """Refuse site names that are not DNS-label-like or are reserved."""
    if not SITE_PATTERN.match(site) or "--" in site or site in RESERVED_SITES:
        raise ApiError(
            422,
            "invalid_site",
            "a site name is 3-63 lowercase letters, digits and single hyphens, not reserved",
        )
    return site


class Catalog:
    """Reads and writes of the catalog; every write records a change for the edges."""

    def __init__(
        self, engine: Engine, topology: Topology, audit: AuditOutbox | None = None
    ) -> None:
        self.engine = engine
        self.topology = topology
        self.audit = audit
        """Where status changes are recorded, in their own transaction (None: nowhere)."""

    def create(self, site: str, region: str, *, pinned: bool = False) -> Tenant:
        """Add a site in `region`, on that region's least-loaded shard (`pinned`: the sign-up
        chose the region, and moves keep it there)."""
        validate_site(site)
        shard_names = [shard.name for shard in self.topology.regions[region].shards]
        with self.engine.begin() as connection:
            counts: dict[str, int] = dict(
                connection.execute(
                    select(tenants.c.shard, func.count())
                    .where(tenants.c.shard.in_(shard_names))
                    .group_by(tenants.c.shard)
                ).all()
            )
            shard = min(shard_names, key=lambda name: (counts.get(name, 0), name))
            tenant = Tenant(str(uuid.uuid4()), site, region, shard, "active")
            try:
                connection.execute(
                    insert(tenants).values(**tenant.public(), created_at=time.time(), pinned=pinned)
                )
            except IntegrityError as exc:
                raise ApiError(409, "site_taken", f"the site {site!r} is taken") from exc
            self._record_change(connection, tenant)
        return tenant

    def by_site(self, site: str) -> Tenant | None:
        """The tenant of a site, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(select(*TENANT_COLUMNS).where(tenants.c.site == site)).first()
        return Tenant(*row) if row is not None else None

    def by_cloud_id(self, cloud_id: str) -> Tenant | None:
        """The tenant of a cloud id, or None."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(*TENANT_COLUMNS).where(tenants.c.cloud_id == cloud_id)
            ).first()
        return Tenant(*row) if row is not None else None

    def records(self, after_site: str | None, limit: int) -> list[dict[str, object]]:
        """Up to `limit` catalog rows in site order after `after_site`, with their creation
        time (ISO 8601, UTC): what the operator sees of each site."""
        query = select(*RECORD_COLUMNS).order_by(tenants.c.site)
        if after_site is not None:
            query = query.where(tenants.c.site > after_site)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [_record(row) for row in rows]

    def record(self, site: str) -> dict[str, object] | None:
        """The catalog row of one site with its creation time, or None."""
        query = select(*RECORD_COLUMNS).where(tenants.c.site == site)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _record(row)

    def set_status(self, site: str, status: str) -> Tenant:
        """Suspend, resume or otherwise change the status of a site that is not deleted."""
        if status not in STATUSES or status in GONE:
            allowed = ", ".join(name for name in STATUSES if name not in GONE)
            raise ApiError(422, "invalid_status", f"status must be one of {allowed}")
        with self.engine.begin() as connection:
            current = self._status(connection, site)
            if current in GONE:
                raise _gone(site, current)
            connection.execute(
                update(tenants)
                .where(tenants.c.site == site, tenants.c.status == current)
                .values(status=status)
            )
            tenant = self._changed(
                connection, site, STATUS_ACTIONS.get(status, "tenant_status_changed")
            )
        self.wake_audit()
        return tenant

    def set_home(
        self,
        site: str,
        from_shard: str,
        to_shard: str,
        *,
        to_region: str | None = None,
        unpin: bool = False,
        moved: Mapping[str, object] | None = None,
    ) -> Tenant:
        """Make `to_shard` the site's home, if `from_shard` still is: the switch of a move.

        The move must have registered `to_shard` as its target (`begin_move`) before it copied
        anything; the switch clears it. A shard of another region is taken only when
        `to_region` names that region (a move between regions says so), and only for a site
        not pinned to its region at sign-up, unless `unpin`; the site is then pinned no more.
        The move has copied and verified the site's data there first; `moved` (what it
        moved, and its size) goes into the audit event. The tenant's status is left as it is.
        """
        target = self.topology.shards.get(to_shard)
        if target is None:
            raise ApiError(422, "unknown_shard", f"there is no shard {to_shard!r}")
        with self.engine.begin() as connection:
            current = self._status(connection, site)
            if current in GONE:
                raise _gone(site, current)
            row = connection.execute(
                select(
                    tenants.c.region, tenants.c.shard, tenants.c.pinned, tenants.c.move_to_shard
                ).where(tenants.c.site == site)
            ).one()
            if target.region != row.region and target.region != to_region:
                raise ApiError(
                    422,
                    "shard_in_other_region",
                    f"shard {to_shard!r} is in region {target.region!r}, not {row.region!r}",
                )
            if target.region != row.region and row.pinned and not unpin:
                raise ApiError(
                    409,
                    "site_pinned",
                    f"site {site!r} was pinned to {row.region!r} at sign-up; unpin it to move it",
                )
            if row.shard != from_shard:
                raise ApiError(
                    409, "home_changed", f"site {site!r} lives on {row.shard!r}, not {from_shard!r}"
                )
            if row.move_to_shard != to_shard:
                raise ApiError(
                    409,
                    "move_not_registered",
                    f"no move of site {site!r} to {to_shard!r} was registered before its copy",
                )
            values: dict[str, object] = {
                "shard": to_shard,
                "region": target.region,
                "move_to_shard": None,
            }
            if target.region != row.region:
                values["pinned"] = False
            connection.execute(
                update(tenants)
                .where(tenants.c.site == site, tenants.c.shard == from_shard)
                .values(values)
            )
            tenant = self._changed(connection, site)
            if self.audit is not None:
                detail = {
                    "from_region": row.region,
                    "to_region": target.region,
                    "from_shard": from_shard,
                    "to_shard": to_shard,
                    "unpinned": bool(row.pinned and target.region != row.region),
                    "moved": dict(moved or {}),
                }
                event = AuditEvent("tenant_moved", site, current_actor("tcs"), detail=detail)
                self.audit.record_on(connection, tenant.cloud_id, event)
        self.wake_audit()
        return tenant

    def begin_move(
        self, site: str, from_shard: str, to_shard: str, *, to_region: str | None = None
    ) -> dict[str, object]:
        """Register that a move copies the site from `from_shard` to `to_shard`: until it
        switches or stops, the site's region hands its keys and blobs to that shard's region
        only. The same checks as the switch's are made here, before anything is copied."""
        target = self.topology.shards.get(to_shard)
        if target is None:
            raise ApiError(422, "unknown_shard", f"there is no shard {to_shard!r}")
        with self.engine.begin() as connection:
            current = self._status(connection, site)
            if current in GONE:
                raise _gone(site, current)
            row = connection.execute(
                select(tenants.c.region, tenants.c.shard).where(tenants.c.site == site)
            ).one()
            if target.region != row.region and target.region != to_region:
                raise ApiError(
                    422,
                    "shard_in_other_region",
                    f"shard {to_shard!r} is in region {target.region!r}, not {row.region!r}",
                )
            if row.shard != from_shard:
                raise ApiError(
                    409, "home_changed", f"site {site!r} lives on {row.shard!r}, not {from_shard!r}"
                )
            if to_shard == from_shard:
                raise ApiError(422, "same_shard", f"site {site!r} lives on {to_shard!r} already")
            connection.execute(
                update(tenants).where(tenants.c.site == site).values(move_to_shard=to_shard)
            )
        return self.move_of(site)

    def end_move(self, site: str) -> dict[str, object]:
        """Forget the site's registered move (it stopped without switching)."""
        with self.engine.begin() as connection:
            self._status(connection, site)
            connection.execute(
                update(tenants).where(tenants.c.site == site).values(move_to_shard=None)
            )
        return self.move_of(site)

    def move_of(self, site: str) -> dict[str, object]:
        """The site's home and the target of its registered move (None: it is not moving)."""
        return self._move(tenants.c.site == site)

    def move_by_cloud_id(self, cloud_id: str) -> dict[str, object]:
        """The same, by cloud id; 404 `unknown_tenant` if there is none."""
        return self._move(tenants.c.cloud_id == cloud_id)

    def _move(self, where: Any) -> dict[str, object]:
        query = select(
            tenants.c.cloud_id,
            tenants.c.site,
            tenants.c.region,
            tenants.c.shard,
            tenants.c.status,
            tenants.c.move_to_shard,
        ).where(where)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise ApiError(404, "unknown_tenant", "there is no such tenant")
        to = self.topology.shards.get(row.move_to_shard) if row.move_to_shard else None
        return {
            "cloud_id": row.cloud_id,
            "site": row.site,
            "region": row.region,
            "shard": row.shard,
            "status": row.status,
            "move": None if to is None else {"to_region": to.region, "to_shard": to.name},
        }

    def pinned(self, site: str) -> bool:
        """Whether the site is pinned to its region (False for a site there is not)."""
        with self.engine.connect() as connection:
            found = connection.execute(
                select(tenants.c.pinned).where(tenants.c.site == site)
            ).scalar_one_or_none()
        return bool(found)

    def delete(self, site: str, now: float) -> Tenant:
        """Make a site unreachable now; it can be undeleted until its grace period ends."""
        with self.engine.begin() as connection:
            current = self._status(connection, site)
            if current in GONE:
                raise _gone(site, current)
            if current == "moving":
                raise ApiError(409, "tenant_moving", f"site {site!r} is moving; delete it after")
            connection.execute(
                update(tenants)
                .where(tenants.c.site == site, tenants.c.status == current)
                .values(status=DELETED, deleted_at=now, status_before_delete=current)
            )
            tenant = self._changed(connection, site, "tenant_deleted")
        self.wake_audit()
        return tenant

    def undelete(self, site: str) -> Tenant:
        """Bring a deleted site back, with the status it had when it was deleted."""
        with self.engine.begin() as connection:
            current = self._status(connection, site)
            if current in (PURGING, PURGED):
                raise _gone(site, current)
            if current != DELETED:
                raise ApiError(409, "site_not_deleted", f"site {site!r} is {current}, not deleted")
            before = connection.execute(
                select(tenants.c.status_before_delete).where(tenants.c.site == site)
            ).scalar()
            connection.execute(
                update(tenants)
                .where(tenants.c.site == site, tenants.c.status == DELETED)
                .values(status=before or "active", deleted_at=None, status_before_delete=None)
            )
            tenant = self._changed(connection, site, "tenant_undeleted")
        self.wake_audit()
        return tenant

    def begin_purge(self, site: str) -> Tenant | None:
        """Mark a site as being purged (it can no longer be undeleted); None if purged already.

        A site marked before, whose purge was cut short, is returned again, so the purge ends.
        """
        with self.engine.begin() as connection:
            current = self._status(connection, site)
            if current == PURGED:
                return None
            if current == "moving":
                raise ApiError(409, "tenant_moving", f"site {site!r} is moving; purge it after")
            if current != PURGING:
                connection.execute(
                    update(tenants)
                    .where(tenants.c.site == site, tenants.c.status == current)
                    .values(status=PURGING)
                )
            return self._changed(connection, site)

    def finish_purge(self, site: str) -> Tenant:
        """Mark a site purged, once its keys are destroyed."""
        with self.engine.begin() as connection:
            connection.execute(
                update(tenants)
                .where(tenants.c.site == site, tenants.c.status == PURGING)
                .values(status=PURGED)
            )
            tenant = self._changed(connection, site, "tenant_purged")
        self.wake_audit()
        return tenant

    def due_for_purge(self, deleted_before: float) -> list[str]:
        """Sites deleted before `deleted_before` (their grace ended), and purges cut short."""
        query = select(tenants.c.site).where(
            ((tenants.c.status == DELETED) & (tenants.c.deleted_at <= deleted_before))
            | (tenants.c.status == PURGING)
        )
        with self.engine.connect() as connection:
            return [
                str(site) for site in connection.execute(query.order_by(tenants.c.site)).scalars()
            ]

    @staticmethod
    def _status(connection: Connection, site: str) -> str:
        """The status of `site` now; 404 `unknown_site` if there is none."""
        status = connection.execute(select(tenants.c.status).where(tenants.c.site == site)).scalar()
        if status is None:
            raise ApiError(404, "unknown_site", f"there is no site {site!r}")
        return str(status)

    def _changed(self, connection: Connection, site: str, action: str | None = None) -> Tenant:
        """The row of `site` as it is now, recorded as a change for the edges, and as the
        audit event `action` (if given) in the same transaction."""
        row = connection.execute(select(*TENANT_COLUMNS).where(tenants.c.site == site)).one()
        tenant = Tenant(*row)
        self._record_change(connection, tenant)
        if self.audit is not None and action is not None:
            detail = {"status": tenant.status}
            event = AuditEvent(action, site, current_actor("tcs"), detail=detail)
            self.audit.record_on(connection, tenant.cloud_id, event)
        return tenant

    def wake_audit(self) -> None:
        """Deliver the events just committed now (call after the transaction)."""
        if self.audit is not None:
            self.audit.wake()

    def set_key_available(self, cloud_id: str, available: bool) -> tuple[Tenant, bool]:
        """Record whether the tenant's own key works; the tenant, and whether that changed."""
        with self.engine.begin() as connection:
            result = connection.execute(
                update(tenants)
                .where(tenants.c.cloud_id == cloud_id, tenants.c.key_available != available)
                .values(key_available=available)
            )
            row = connection.execute(
                select(*TENANT_COLUMNS).where(tenants.c.cloud_id == cloud_id)
            ).first()
            if row is None:
                raise ApiError(404, "unknown_tenant", "there is no such tenant")
            tenant = Tenant(*row)
            changed = result.rowcount == 1
            if changed:
                self._record_change(connection, tenant)
        return tenant, changed

    def remove(self, cloud_id: str) -> None:
        """Drop a tenant from the catalog (a sign-up that could not finish)."""
        with self.engine.begin() as connection:
            row = connection.execute(
                select(tenants.c.site).where(tenants.c.cloud_id == cloud_id)
            ).first()
            if row is None:
                raise ApiError(404, "unknown_tenant", "there is no such tenant")
            connection.execute(delete(tenants).where(tenants.c.cloud_id == cloud_id))
            connection.execute(
                insert(changes).values(cloud_id=cloud_id, site=row.site, at=time.time())
            )

    def changes_after(self, seq: int) -> tuple[int, list[dict[str, object]]]:
        """The latest change number, and the changes after `seq` (at most 1000)."""
        with self.engine.connect() as connection:
            latest = connection.execute(select(func.max(changes.c.seq))).scalar() or 0
            rows = connection.execute(
                select(changes.c.seq, changes.c.site, changes.c.cloud_id)
                .where(changes.c.seq > seq)
                .order_by(changes.c.seq)
                .limit(1000)
            ).all()
        return latest, [dict(row._mapping) for row in rows]

    def stats(self) -> dict[str, object]:
        """Tenant counts per shard and in total."""
        with self.engine.connect() as connection:
            per_shard: dict[str, int] = dict(
                connection.execute(
                    select(tenants.c.shard, func.count()).group_by(tenants.c.shard)
                ).all()
            )
        shards = {name: per_shard.get(name, 0) for name in self.topology.shards}
        return {"tenants": sum(shards.values()), "shards": shards}

    @staticmethod
    def _record_change(connection: Connection, tenant: Tenant) -> None:
        connection.execute(
            insert(changes).values(cloud_id=tenant.cloud_id, site=tenant.site, at=time.time())
        )


def _gone(site: str, status: str) -> ApiError:
    """The refusal for a change to a deleted, or purged, site."""
    if status == DELETED:
        return ApiError(
            409, "site_deleted", f"site {site!r} is deleted; undelete it first, or purge it"
        )
    return ApiError(409, "site_purged", f"site {site!r} was purged: it is gone for good")


@overload
def iso_time(seconds: float) -> str: ...
@overload
def iso_time(seconds: None) -> None: ...
def iso_time(seconds: float | None) -> str | None:
    """A time as the operator reads it (ISO 8601, UTC), or None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(float(seconds), UTC).isoformat().replace("+00:00", "Z")


def _record(row: Sequence[Any]) -> dict[str, object]:
    """A catalog row with its deletion and creation times as the operator reads them."""
    values = tuple(row)
    return {
        **Tenant(*values[:-3]).public(),
        "pinned": bool(values[-3]),
        "deleted_at": iso_time(values[-2]),
        "created_at": iso_time(values[-1]),
    }
