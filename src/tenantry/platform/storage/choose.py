"""Pick where a cloud's databases live from its topology: SQLite files, or PostgreSQL.

Every service process and `up` make the same choice from the same topology file, so the
databases `up` and `migrate` prepare are the ones the services open.
"""

from __future__ import annotations

from pathlib import Path

from tenantry.platform.storage.backend import GLOBAL_SHARD, StorageBackend
from tenantry.platform.storage.postgres import PostgresBackend
from tenantry.platform.storage.sqlite import SqliteBackend
from tenantry.platform.topology import Topology


def storage_backend(topology: Topology, data_dir: Path) -> StorageBackend:
    """PostgreSQL when the topology gives DSNs, else SQLite files under `data_dir`."""
    if topology.uses_postgres:
        return postgres_backend(topology)
    return SqliteBackend(data_dir)


def postgres_backend(topology: Topology) -> PostgresBackend:
    """The PostgreSQL backend of a topology with DSNs: `[global]` is the shard "global".

    The DSNs are the administrator's, used only to migrate. Services log in as their own
    roles with no password: the cluster is expected to trust local connections for them
    (trust or peer authentication), until service passwords are handed out.
    """
    if topology.global_dsn is None:
        raise ValueError("the topology names no PostgreSQL databases")
    dsn_by_shard = {GLOBAL_SHARD: topology.global_dsn}
    for name, shard in topology.shards.items():
        if shard.dsn is None:
            raise ValueError(f"shard {name!r} has no PostgreSQL dsn")
        dsn_by_shard[name] = shard.dsn
    return PostgresBackend(
        dsn_by_shard, role_prefix=topology.role_prefix, pool_size=topology.pool_size
    )
