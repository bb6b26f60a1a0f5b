"""The tenant catalog: every site's cloud id, home region, shard and status.

The catalog is global control-plane data, not tenant data, so it is a plain table rather than a
tenant-scoped one. Every change is also appended to a change feed that edges follow.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    delete,
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
STATUSES = ("active", "suspended", "moving", "deleted")

STATUS_ACTIONS = {
    "active": "tenant_resumed",
    "suspended": "tenant_suspended",
    "moving": "tenant_moving",
    "deleted": "tenant_purged",
}
"""The audit action of each status change (only the operator changes a tenant's status)."""

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
)
TENANT_COLUMNS = (
    tenants.c.cloud_id,
    tenants.c.site,
    tenants.c.region,
    tenants.c.shard,
    tenants.c.status,
    tenants.c.key_available,
)
changes = Table(
    "changes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("cloud_id", String(36), nullable=False),
    Column("site", String(63), nullable=False),
    Column("at", Float, nullable=False),
)
SCHEMA = ServiceSchema("tcs", metadata, Path(__file__).with_name("migrations"))
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

    def create(self, site: str, region: str) -> Tenant:
        """Add a site in `region`, on that region's least-loaded shard."""
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
                    insert(tenants).values(**tenant.public(), created_at=time.time())
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
        query = select(*TENANT_COLUMNS, tenants.c.created_at).order_by(tenants.c.site)
        if after_site is not None:
            query = query.where(tenants.c.site > after_site)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit)).all()
        return [_record(row) for row in rows]

    def record(self, site: str) -> dict[str, object] | None:
        """The catalog row of one site with its creation time, or None."""
        query = select(*TENANT_COLUMNS, tenants.c.created_at).where(tenants.c.site == site)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else _record(row)

    def set_status(self, site: str, status: str) -> Tenant:
        """Suspend, resume or otherwise change a tenant's status."""
        if status not in STATUSES:
            raise ApiError(422, "invalid_status", f"status must be one of {', '.join(STATUSES)}")
        with self.engine.begin() as connection:
            # A purged site is gone for good: its keys were destroyed, so it can never serve.
            result = connection.execute(
                update(tenants)
                .where(tenants.c.site == site, tenants.c.status != "deleted")
                .values(status=status)
            )
            if result.rowcount == 0:
                gone = connection.execute(
                    select(tenants.c.status).where(tenants.c.site == site)
                ).scalar()
                if gone is None:
                    raise ApiError(404, "unknown_site", f"there is no site {site!r}")
                if status != "deleted":
                    raise ApiError(409, "tenant_deleted", f"site {site!r} was purged")
            row = connection.execute(select(*TENANT_COLUMNS).where(tenants.c.site == site)).one()
            tenant = Tenant(*row)
            self._record_change(connection, tenant)
            if self.audit is not None and result.rowcount == 1:
                action = STATUS_ACTIONS.get(status, "tenant_status_changed")
                event = AuditEvent(action, site, current_actor("tcs"), detail={"status": status})
                self.audit.record_on(connection, tenant.cloud_id, event)
        if self.audit is not None:
            self.audit.wake()
        return tenant

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


def _record(row: Sequence[Any]) -> dict[str, object]:
    """A catalog row with its creation time as the operator reads it."""
    values = tuple(row)
    when = datetime.fromtimestamp(float(values[-1]), UTC).isoformat().replace("+00:00", "Z")
    return {**Tenant(*values[:-1]).public(), "created_at": when}
