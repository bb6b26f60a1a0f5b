"""Which backup tool protects a cloud's databases, chosen by its storage backend."""

from __future__ import annotations

from pathlib import Path

from tenantry.platform.crypto import DataKey
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import BackupEngine
from tenantry.services.backup.engines.litestream import LitestreamEngine
from tenantry.services.backup.engines.pgbackrest.cloud import Passphrases, engine_for


class BackupsTurnedOff(RuntimeError):
    """The topology turns backups off, so there are none to show, take or restore from."""


def _unknown(_region: str) -> str | None:
    return None


def require_backups(topology: Topology) -> None:
    """Refuse, saying why, where the topology turns backups off."""
    if not topology.backup.enabled:
        raise BackupsTurnedOff(
            "backups are turned off in this cloud's topology ([backup] enabled = false): "
            "nothing has been backed up, so there is nothing to show or restore"
        )


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
    require_backups(topology)
    if not topology.uses_postgres:
        return LitestreamEngine(data_dir, topology, region, key)
    return engine_for(data_dir, topology, region, passphrases)
