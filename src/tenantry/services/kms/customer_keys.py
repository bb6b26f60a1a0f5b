"""Which tenants bring their own key (BYOK), which AWS KMS key it is, and whether it works now.

One row per BYOK tenant on the global database, next to the root keys: the key watch reads all
of a region's rows every few seconds, and the data-key paths read one tenant's row per call.
`state` is what kms last found (and told tcs): `enabled`, or `unavailable` after the customer
disabled, deleted or denied the key. Each change of a record names its audit event, written in
the change's own transaction (kms's outbox on the global database carries it to the tenant's
log), so a tenant is never switched, nor found revoked, without its log saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.model import utc_now
from tenantry.services.kms.audit import TenantKeyEvents
from tenantry.services.kms.models import customer_keys

ENABLED = "enabled"
UNAVAILABLE = "unavailable"

_COLUMNS = (
    customer_keys.c.cloud_id,
    customer_keys.c.region,
    customer_keys.c.shard,
    customer_keys.c.key_ref,
    customer_keys.c.state,
    customer_keys.c.changed_at,
)


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """The audit event of a change to a tenant's own-key record: its action and detail."""

    action: str
    fields: dict[str, object]


@dataclass(frozen=True, slots=True)
class CustomerKey:
    """A tenant's own key and its last known state."""

    cloud_id: str
    region: str
    shard: str
    key_ref: str
    state: str
    changed_at: datetime

    @property
    def usable(self) -> bool:
        """False once kms found the key disabled, deleted or denied."""
        return self.state == ENABLED


class CustomerKeys:
    """Reads and writes the BYOK records; each write is one short transaction with its event."""

    def __init__(self, databases: Databases, events: TenantKeyEvents | None = None) -> None:
        self._databases = databases
        self._events = events or TenantKeyEvents(None)

    @property
    def _engine(self) -> Engine:
        return self._databases.engine_for(GLOBAL_SHARD)

    def of(self, cloud_id: str) -> CustomerKey | None:
        """The tenant's customer key, or None when its keys are under the region's root key."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(*_COLUMNS).where(customer_keys.c.cloud_id == cloud_id)
            ).first()
        return CustomerKey(*row) if row is not None else None

    def in_region(self, region: str) -> list[CustomerKey]:
        """Every BYOK tenant homed in `region`."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(*_COLUMNS)
                .where(customer_keys.c.region == region)
                .order_by(customer_keys.c.cloud_id)
            ).all()
        return [CustomerKey(*row) for row in rows]

    def put(
        self, cloud_id: str, region: str, shard: str, key_ref: str, event: KeyEvent | None = None
    ) -> None:
        """Record (or replace) the tenant's customer key, as usable, with `event`."""
        values = {"key_ref": key_ref, "state": ENABLED, "changed_at": utc_now()}
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(customer_keys).values(
                        cloud_id=cloud_id, region=region, shard=shard, **values
                    )
                )
                self._record(connection, cloud_id, event)
        except IntegrityError:
            # The tenant had a customer key already: this one replaces it.
            with self._engine.begin() as connection:
                connection.execute(
                    update(customer_keys).where(customer_keys.c.cloud_id == cloud_id).values(values)
                )
                self._record(connection, cloud_id, event)
        self._wake(event)

    def set_state(
        self, cloud_id: str, key_ref: str, state: str, event: KeyEvent | None = None
    ) -> bool:
        """Record what the watch found, with `event`, if the tenant still uses `key_ref`;
        True if it did (otherwise nothing, the event neither, is written)."""
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(customer_keys)
                .where(customer_keys.c.cloud_id == cloud_id, customer_keys.c.key_ref == key_ref)
                .values(state=state, changed_at=utc_now())
            )
            if changed.rowcount == 1:
                self._record(connection, cloud_id, event)
        self._wake(event)
        return changed.rowcount == 1

    def rehome(self, cloud_id: str, region: str, shard: str) -> None:
        """Follow the tenant to its new home after a move (its key stays the customer's)."""
        with self._engine.begin() as connection:
            connection.execute(
                update(customer_keys)
                .where(customer_keys.c.cloud_id == cloud_id)
                .values(region=region, shard=shard, changed_at=utc_now())
            )

    def remove(self, cloud_id: str, event: KeyEvent | None = None) -> None:
        """Forget the tenant's customer key (its keys are back under the root key)."""
        with self._engine.begin() as connection:
            connection.execute(delete(customer_keys).where(customer_keys.c.cloud_id == cloud_id))
            self._record(connection, cloud_id, event)
        self._wake(event)

    def _record(self, connection: Connection, cloud_id: str, event: KeyEvent | None) -> None:
        if event is not None:
            self._events.record_on(connection, cloud_id, event.action, **event.fields)

    def _wake(self, event: KeyEvent | None) -> None:
        if event is not None:
            self._events.wake()
