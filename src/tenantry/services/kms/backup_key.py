"""The key a region's backups are sealed with: made once by kms, kept wrapped under a root key.

A region secret (`region_secret.py`): `<data dir>/kms/<region>/backup-key.json`. The global
databases' backups use the key of the topology's default region. The running backup service
asks kms for it (`GET /internal/kms/backup-key`); a disaster recovery with the cloud stopped
reads it here.
"""

from __future__ import annotations

from pathlib import Path

from tenantry.platform.crypto import DataKey
from tenantry.services.kms.providers import KeyProvider, LocalKeyProvider
from tenantry.services.kms.region_secret import RegionSecret, RegionSecretMissing, key_directory

BACKUP_KEY_FILE = "backup-key.json"
BACKUP_KEY_VERSION = 1
BACKUP_KEY = RegionSecret(BACKUP_KEY_FILE, "region-backup-key", "backup_key_created")

BackupKeyMissing = RegionSecretMissing
"""The region has no backup key yet (kms never ran there), or its file is damaged."""

__all__ = [
    "BACKUP_KEY_FILE",
    "BackupKeyMissing",
    "ensure_backup_key",
    "key_directory",
    "load_backup_key",
    "open_backup_key",
]


def ensure_backup_key(
    provider: KeyProvider, directory: Path, region: str, root_ref: str
) -> DataKey:
    """The region's backup key, made and wrapped under `root_ref` the first time."""
    return DataKey(BACKUP_KEY_VERSION, BACKUP_KEY.ensure(provider, directory, region, root_ref))


def open_backup_key(provider: KeyProvider, directory: Path, region: str) -> DataKey:
    """Unwrap the region's stored backup key; BackupKeyMissing when there is none."""
    return DataKey(BACKUP_KEY_VERSION, BACKUP_KEY.open(provider, directory, region))


def load_backup_key(data_dir: Path, region: str) -> DataKey:
    """The backup key of `region`, read with the cloud stopped (disaster recovery, drills)."""
    directory = key_directory(data_dir, region)
    if not (directory / BACKUP_KEY_FILE).exists():
        raise BackupKeyMissing(
            f"region {region} has no backup key in {directory}: kms has not run there yet"
        )
    return open_backup_key(LocalKeyProvider(directory), directory, region)
