"""The tenants of each shard that hold data keys, so a root rotation can reach every one of them.

Tenant sessions see one tenant at a time (and on PostgreSQL row-level security holds the service
role to that), so kms keeps this plain list of ids beside the keys and visits each tenant in turn.
A tenant is listed before its first key is stored, so no key can be missed.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.model import utc_now
from tenantry.services.kms.models import key_holders


class KeyHolders:
    """Adds and lists the key-holding tenants of a shard."""

    def __init__(self, databases: Databases) -> None:
        self._databases = databases

    def add(self, shard: str, cloud_id: str) -> None:
        """List `cloud_id` on `shard`; listing it again changes nothing."""
        try:
            with self._databases.engine_for(shard).begin() as connection:
                connection.execute(
                    insert(key_holders).values(cloud_id=cloud_id, created_at=utc_now())
                )
        except IntegrityError:
            return  # listed already (by an earlier or a concurrent first request)

    def on_shard(self, shard: str) -> list[str]:
        """Every tenant of `shard` that holds data keys, in id order."""
        with self._databases.engine_for(shard).connect() as connection:
            ids = connection.execute(
                select(key_holders.c.cloud_id).order_by(key_holders.c.cloud_id)
            )
            return list(ids.scalars())
