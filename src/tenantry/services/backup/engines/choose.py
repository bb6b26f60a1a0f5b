"""Which backup tool protects a cloud's databases, chosen by its storage backend."""

from __future__ import annotations

from pathlib import Path

from tenantry.platform.crypto import DataKey
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import BackupEngine
from tenantry.services.backup.engines.litestream import LitestreamEngine
from tenantry.services.backup.engines.pgbackrest.cloud import Passphrases, engine_for


def _unknown(_region: str) -> str | None:
    return None


def backup_engine(
    data_dir: Path,
    topology: Topology,
    region: str,
    key: DataKey | None = None,
    passphrases: Passphrases = _unknown,
) -> BackupEngine:
    """Litestream on SQLite (sealing with `key`); pgBackRest on PostgreSQL (its repositories
    encrypted under the passphrase `passphrases` gives for a region, when it must write its
    configuration)."""
    if not topology.uses_postgres:
        return LitestreamEngine(data_dir, topology, region, key)
    return engine_for(data_dir, topology, region, passphrases)
