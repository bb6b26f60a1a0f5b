"""The passphrase a region's pgBackRest repositories are encrypted with: made once by kms, kept
wrapped under the region's root key.

pgBackRest encrypts each repository (aes-256-cbc) under a passphrase given in its configuration;
kms makes one per region and keeps it beside the backup key (`<data dir>/kms/<region>/
backup-passphrase.json`), wrapped, for the same reason: the databases are what it protects. The
running backup service asks kms for it (`GET /internal/kms/backup-passphrase`) and writes it
into pgBackRest's configuration; a restore with the cloud stopped reads it here.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

from tenantry.platform.files import directory_lock, write_atomically
from tenantry.services.kms.audit import key_event
from tenantry.services.kms.backup_key import key_directory
from tenantry.services.kms.providers import DATA_KEY_BYTES, KeyProvider, LocalKeyProvider

PASSPHRASE_FILE = "backup-passphrase.json"  # noqa: S105 (a file name)
_PURPOSE = "region-backup-passphrase"
_VERSION = 1


class BackupPassphraseMissing(LookupError):
    """The region has no repository passphrase yet (kms never made it), or its file is damaged."""


def _context(region: str) -> dict[str, str]:
    return {"region": region, "purpose": _PURPOSE, "version": str(_VERSION)}


def _as_passphrase(material: bytes) -> str:
    """256 random bits as one line of URL-safe characters, as pgBackRest's configuration takes
    a passphrase."""
    return base64.urlsafe_b64encode(material).decode("ascii").rstrip("=")


def ensure_backup_passphrase(
    provider: KeyProvider, directory: Path, region: str, root_ref: str
) -> str:
    """The region's repository passphrase, made and wrapped under `root_ref` the first time."""
    path = directory / PASSPHRASE_FILE
    with directory_lock(directory):
        if not path.exists():
            material = secrets.token_bytes(DATA_KEY_BYTES)
            wrapped = provider.wrap(root_ref, material, _context(region))
            document = {
                "version": _VERSION,
                "root_key_ref": root_ref,
                "wrapped": base64.b64encode(wrapped).decode("ascii"),
            }
            write_atomically(path, json.dumps(document).encode(), 0o600)
            key_event("backup_passphrase_created", region=region, root_key_ref=root_ref)
            return _as_passphrase(material)
    return open_backup_passphrase(provider, directory, region)


def open_backup_passphrase(provider: KeyProvider, directory: Path, region: str) -> str:
    """Unwrap the region's stored passphrase; BackupPassphraseMissing when there is none."""
    try:
        document = json.loads((directory / PASSPHRASE_FILE).read_text())
        wrapped = base64.b64decode(document["wrapped"])
        ref = str(document["root_key_ref"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupPassphraseMissing(
            f"region {region} has no readable backup passphrase: {exc}"
        ) from None
    return _as_passphrase(provider.unwrap(ref, wrapped, _context(region)))


def load_backup_passphrase(data_dir: Path, region: str) -> str:
    """The passphrase of `region`, read with the cloud stopped (restores, drills)."""
    directory = key_directory(data_dir, region)
    if not (directory / PASSPHRASE_FILE).exists():
        raise BackupPassphraseMissing(
            f"region {region} has no backup passphrase in {directory}: its backup service has "
            "not run yet"
        )
    return open_backup_passphrase(LocalKeyProvider(directory), directory, region)
