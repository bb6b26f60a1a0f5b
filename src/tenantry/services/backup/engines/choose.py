"""Which backup tool protects a cloud's databases, chosen by its storage backend."""

from __future__ import annotations

import importlib
from pathlib import Path

from tenantry.platform.crypto import DataKey
from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import BackupEngine
from tenantry.services.backup.engines.litestream import LitestreamEngine


class EngineUnavailable(RuntimeError):
    """The backend's backup tool is not available in this installation."""


def require_backups(topology: Topology) -> None:
    """Refuse, saying why, where the topology turns backups off."""
    if not topology.backup.enabled:
        raise EngineUnavailable(
            "backups are turned off in this cloud's topology ([backup] enabled = false): "
            "nothing has been backed up, so there is nothing to show or restore"
        )


def backup_engine(
    data_dir: Path, topology: Topology, region: str, key: DataKey | None = None
) -> BackupEngine:
    """Litestream on SQLite; pgBackRest (`engines/pgbackrest.py`) on PostgreSQL."""
    require_backups(topology)
    if not topology.uses_postgres:
        return LitestreamEngine(data_dir, topology, region, key)
    try:
        module = importlib.import_module("tenantry.services.backup.engines.pgbackrest")
    except ImportError:
        raise EngineUnavailable("pgBackRest backups of PostgreSQL are not built yet") from None
    engine: BackupEngine = module.engine_for(data_dir, topology, region, key)
    return engine
