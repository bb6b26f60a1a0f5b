"""The versions of each region's root key, kept in a plain table on the global database.

A region has exactly one active version, the one new data keys are wrapped under; earlier
versions are retired once a rotation has made a newer one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.storage.databases import Databases
from tenantry.platform.storage.model import utc_now
from tenantry.services.kms.audit import key_event
from tenantry.services.kms.errors import kms_error
from tenantry.services.kms.keyring import root_key_name
from tenantry.services.kms.models import root_keys

ACTIVE = "active"
RETIRED = "retired"

_COLUMNS = (
    root_keys.c.region,
    root_keys.c.version,
    root_keys.c.ref,
    root_keys.c.owner,
    root_keys.c.state,
    root_keys.c.created_at,
)

CreateKey = Callable[[str], str]
"""Makes the provider key of a given name and returns its key ref."""


@dataclass(frozen=True, slots=True)
class RootKey:
    """One version of a region's root key."""

    region: str
    version: int
    ref: str
    owner: str | None
    state: str
    created_at: datetime

    def public(self) -> dict[str, object]:
        """The version as JSON (the time in ISO 8601, UTC)."""
        return {
            "region": self.region,
            "version": self.version,
            "ref": self.ref,
            "owner": self.owner,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
        }


class RootKeys:
    """Reads and adds root key versions; writes are single transactions on the global database."""

    def __init__(self, databases: Databases) -> None:
        self._databases = databases

    @property
    def _engine(self) -> Engine:
        return self._databases.engine_for(GLOBAL_SHARD)

    def active(self, region: str) -> RootKey:
        """The version new data keys of `region` are wrapped under."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(*_COLUMNS)
                .where(root_keys.c.region == region, root_keys.c.state == ACTIVE)
                .order_by(root_keys.c.version.desc())
                .limit(1)
            ).first()
        if row is None:
            raise kms_error(503, "root_key_missing", f"region {region} has no active root key")
        return RootKey(*row)

    def versions(self, region: str) -> list[RootKey]:
        """Every version of `region`'s root key, oldest first."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(*_COLUMNS).where(root_keys.c.region == region).order_by(root_keys.c.version)
            ).all()
        return [RootKey(*row) for row in rows]

    def ensure_first(self, region: str, create: CreateKey) -> None:
        """Give `region` its first root key version unless it has one (at a kms first start)."""
        if self.latest_version(region) == 0:
            self.add(region, create, owner=None, expected=0)

    def add(self, region: str, create: CreateKey, owner: str | None, expected: int) -> RootKey:
        """Make version `expected + 1` the active one and retire the rest, in one transaction.

        A concurrent rotation that got there first wins; this one answers 409.
        """
        version = expected + 1
        ref = create(root_key_name(region, version))
        key = RootKey(region, version, ref, owner, ACTIVE, utc_now())
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    update(root_keys)
                    .where(root_keys.c.region == region, root_keys.c.state == ACTIVE)
                    .values(state=RETIRED)
                )
                connection.execute(insert(root_keys).values(_values(key)))
        except IntegrityError:
            raise kms_error(
                409, "rotation_conflict", f"root key version {version} of {region} exists already"
            ) from None
        key_event("root_key_created", region=region, root_version=version, ref=ref, owner=owner)
        return key

    def latest_version(self, region: str) -> int:
        """The highest version `region` has (0 before its first)."""
        with self._engine.connect() as connection:
            found = connection.execute(
                select(func.max(root_keys.c.version)).where(root_keys.c.region == region)
            ).scalar()
        return int(found or 0)


def _values(key: RootKey) -> dict[str, object]:
    return {
        "region": key.region,
        "version": key.version,
        "ref": key.ref,
        "owner": key.owner,
        "state": key.state,
        "created_at": key.created_at,
    }
