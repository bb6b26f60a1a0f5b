"""Which tenants bring their own key (BYOK), which AWS KMS key it is, and whether it works now.

One row per BYOK tenant on the global database, next to the root keys: the key watch reads all
of a region's rows every few seconds, and the data-key paths read one tenant's row per call.
`state` is what kms last found (and told tcs): `enabled`, or `unavailable` after the customer
disabled, deleted or denied the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.model import utc_now
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
    """Reads and writes the BYOK records; each write is one short transaction."""

    def __init__(self, databases: Databases) -> None:
        self._databases = databases

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

    def put(self, cloud_id: str, region: str, shard: str, key_ref: str) -> None:
        """Record (or replace) the tenant's customer key, as usable."""
        values = {"key_ref": key_ref, "state": ENABLED, "changed_at": utc_now()}
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(customer_keys).values(
                        cloud_id=cloud_id, region=region, shard=shard, **values
                    )
                )
            return
        except IntegrityError:
            pass  # the tenant had a customer key already: this one replaces it
        with self._engine.begin() as connection:
            connection.execute(
                update(customer_keys).where(customer_keys.c.cloud_id == cloud_id).values(values)
            )

    def set_state(self, cloud_id: str, key_ref: str, state: str) -> bool:
        """Record what the watch found, if the tenant still uses `key_ref`; True if it did."""
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(customer_keys)
                .where(customer_keys.c.cloud_id == cloud_id, customer_keys.c.key_ref == key_ref)
                .values(state=state, changed_at=utc_now())
            )
        return changed.rowcount == 1

    def remove(self, cloud_id: str) -> None:
        """Forget the tenant's customer key (its keys are back under the root key)."""
        with self._engine.begin() as connection:
            connection.execute(delete(customer_keys).where(customer_keys.c.cloud_id == cloud_id))
