"""The passphrase a region's pgBackRest repositories are encrypted with: made once by kms, kept
wrapped under the region's root key.

pgBackRest encrypts each repository (aes-256-cbc) under a passphrase given in its configuration;
kms keeps one per region as a region secret (`region_secret.py`): `<data dir>/kms/<region>/
backup-passphrase.json`. The running backup service asks kms for it (`GET /internal/kms/
backup-passphrase`) and writes it into pgBackRest's configuration; a restore with the cloud
stopped reads it here.
"""

from __future__ import annotations

import base64
from pathlib import Path

from tenantry.services.kms.providers import KeyProvider, LocalKeyProvider
from tenantry.services.kms.region_secret import RegionSecret, RegionSecretMissing, key_directory

PASSPHRASE_FILE = "backup-passphrase.json"  # noqa: S105 (a file name)
PASSPHRASE = RegionSecret(PASSPHRASE_FILE, "region-backup-passphrase", "backup_passphrase_created")

BackupPassphraseMissing = RegionSecretMissing
"""The region has no repository passphrase yet (kms never made it), or its file is damaged."""


def _as_passphrase(material: bytes) -> str:
    """256 random bits as one line of URL-safe characters, as pgBackRest's configuration takes
    a passphrase."""
    return base64.urlsafe_b64encode(material).decode("ascii").rstrip("=")


def ensure_backup_passphrase(
    provider: KeyProvider, directory: Path, region: str, root_ref: str
) -> str:
    """The region's repository passphrase, made and wrapped under `root_ref` the first time."""
    return _as_passphrase(PASSPHRASE.ensure(provider, directory, region, root_ref))


def open_backup_passphrase(provider: KeyProvider, directory: Path, region: str) -> str:
    """Unwrap the region's stored passphrase; BackupPassphraseMissing when there is none."""
    return _as_passphrase(PASSPHRASE.open(provider, directory, region))


def load_backup_passphrase(data_dir: Path, region: str) -> str:
    """The passphrase of `region`, read with the cloud stopped (restores, drills)."""
    directory = key_directory(data_dir, region)
    if not (directory / PASSPHRASE_FILE).exists():
        raise BackupPassphraseMissing(
            f"region {region} has no backup passphrase in {directory}: its backup service has "
            "not run yet"
        )
    return open_backup_passphrase(LocalKeyProvider(directory), directory, region)
