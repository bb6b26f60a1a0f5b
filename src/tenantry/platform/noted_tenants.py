"""Which tenants of a shard a background loop must visit, so it never scans every tenant.

Issues' attachment-deletion outbox and each service's trash purge keep such a table of notes; a
note is refreshed whenever work for its tenant is written, and dropped once a pass found none left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, Table, delete, select
from sqlalchemy.dialects import postgresql, sqlite


@dataclass(frozen=True, slots=True)
class Noted:
    """A tenant that may have work waiting on a shard."""

    cloud_id: str
    site: str
    noted_at: float


class NotedTenants:
    """The notes of one table (`cloud_id`, `site`, `noted_at`) on every shard."""

    def __init__(
        self, table: Table, engine_for: Callable[[str], Engine], clock: Callable[[], float]
    ) -> None:
        self._table = table
        self._engine_for = engine_for
        self._clock = clock

    def note(self, shard: str, cloud_id: str, site: str) -> None:
        """Insert or refresh a tenant's note on `shard` (its time, and its site name)."""
        engine = self._engine_for(shard)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        now = self._clock()
        insert = dialect.insert(self._table).values(cloud_id=cloud_id, site=site, noted_at=now)
        statement = insert.on_conflict_do_update(
            index_elements=["cloud_id"], set_={"site": site, "noted_at": now}
        )
        with engine.begin() as connection:
            connection.execute(statement)

    def noted(self, shard: str) -> list[Noted]:
        """Every note on `shard`, oldest first."""
        table = self._table
        query = select(table.c.cloud_id, table.c.site, table.c.noted_at).order_by(table.c.noted_at)
        with self._engine_for(shard).connect() as connection:
            return [Noted(*row) for row in connection.execute(query)]

    def forget(self, shard: str, noted: Noted) -> None:
        """Drop a tenant's note, unless it was refreshed meanwhile (new work since)."""
        table = self._table
        with self._engine_for(shard).begin() as connection:
            connection.execute(
                delete(table).where(
                    table.c.cloud_id == noted.cloud_id, table.c.noted_at == noted.noted_at
                )
            )
