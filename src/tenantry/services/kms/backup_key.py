"""The key a region's backups are sealed with: made once by kms, kept wrapped under a root key.

It lives in kms's key directory (`<data dir>/kms/<region>/backup-key.json`), beside the root keys
that wrap it, and not in a database: the databases are what it protects, so a lost global
database must not take the key needed to restore it. The global databases' backups use the key
of the topology's default region. The running backup service asks kms for it
(`GET /internal/kms/backup-key`); a disaster recovery with the cloud stopped reads it here.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

from tenantry.platform.crypto import DataKey
from tenantry.platform.files import directory_lock, write_atomically
from tenantry.services.kms.audit import key_event
from tenantry.services.kms.providers import DATA_KEY_BYTES, KeyProvider, LocalKeyProvider

BACKUP_KEY_FILE = "backup-key.json"
BACKUP_KEY_VERSION = 1
_PURPOSE = "region-backup-key"


class BackupKeyMissing(LookupError):
    """The region has no backup key yet (kms never ran there), or its file is damaged."""


def _context(region: str) -> dict[str, str]:
    return {"region": region, "purpose": _PURPOSE, "version": str(BACKUP_KEY_VERSION)}


def key_directory(data_dir: Path, region: str) -> Path:
    """Where kms keeps `region`'s root keys and backup key."""
    return data_dir / "kms" / region


def ensure_backup_key(
    provider: KeyProvider, directory: Path, region: str, root_ref: str
) -> DataKey:
    """The region's backup key, made and wrapped under `root_ref` the first time."""
    path = directory / BACKUP_KEY_FILE
    with directory_lock(directory):
        if not path.exists():
            material = secrets.token_bytes(DATA_KEY_BYTES)
            wrapped = provider.wrap(root_ref, material, _context(region))
            document = {
                "version": BACKUP_KEY_VERSION,
                "root_key_ref": root_ref,
                "wrapped": base64.b64encode(wrapped).decode("ascii"),
            }
            write_atomically(path, json.dumps(document).encode(), 0o600)
            key_event("backup_key_created", region=region, root_key_ref=root_ref)
            return DataKey(BACKUP_KEY_VERSION, material)
    return open_backup_key(provider, directory, region)


def open_backup_key(provider: KeyProvider, directory: Path, region: str) -> DataKey:
    """Unwrap the region's stored backup key; BackupKeyMissing when there is none."""
    try:
        document = json.loads((directory / BACKUP_KEY_FILE).read_text())
        wrapped = base64.b64decode(document["wrapped"])
        ref = str(document["root_key_ref"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupKeyMissing(f"region {region} has no readable backup key: {exc}") from None
    material = provider.unwrap(ref, wrapped, _context(region))
    return DataKey(BACKUP_KEY_VERSION, material)


def load_backup_key(data_dir: Path, region: str) -> DataKey:
    """The backup key of `region`, read with the cloud stopped (disaster recovery, drills)."""
    directory = key_directory(data_dir, region)
    if not (directory / BACKUP_KEY_FILE).exists():
        raise BackupKeyMissing(
            f"region {region} has no backup key in {directory}: kms has not run there yet"
        )
    return open_backup_key(LocalKeyProvider(directory), directory, region)
