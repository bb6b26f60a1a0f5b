"""The pgBackRest repository passphrase kms makes per region: wrapped at rest, the same on every
call, readable with the cloud stopped, and given to the backup service only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tenantry.platform.policy import load_policy
from tenantry.services.kms.backup_key import BACKUP_KEY_FILE, ensure_backup_key, key_directory
from tenantry.services.kms.backup_passphrase import (
    PASSPHRASE_FILE,
    BackupPassphraseMissing,
    ensure_backup_passphrase,
    load_backup_passphrase,
)
from tenantry.services.kms.keyring import create_root_key
from tenantry.services.kms.providers import KeyProviderError, LocalKeyProvider

REGION = "eu"
ROUTE = "/internal/kms/backup-passphrase"


def _provider(data_dir: Path) -> tuple[LocalKeyProvider, str]:
    provider = LocalKeyProvider(key_directory(data_dir, REGION))
    return provider, create_root_key(provider, f"root-{REGION}-v1")


def test_one_passphrase_per_region_wrapped_at_rest_and_read_back_with_the_cloud_stopped(
    tmp_path: Path,
) -> None:
    provider, root = _provider(tmp_path)
    directory = provider.directory
    first = ensure_backup_passphrase(provider, directory, REGION, root)
    assert len(first) >= 43 and first.strip() == first and "\n" not in first
    assert ensure_backup_passphrase(provider, directory, REGION, root) == first
    assert load_backup_passphrase(tmp_path, REGION) == first
    stored = (directory / PASSPHRASE_FILE).read_bytes()
    assert first.encode() not in stored
    assert (directory / PASSPHRASE_FILE).stat().st_mode & 0o077 == 0
    other = LocalKeyProvider(tmp_path / "other")
    other_root = create_root_key(other, "root-au-v1")
    assert ensure_backup_passphrase(other, other.directory, "au", other_root) != first


def test_a_wrapped_value_moved_from_another_purpose_or_region_does_not_open(
    tmp_path: Path,
) -> None:
    provider, root = _provider(tmp_path)
    directory = provider.directory
    ensure_backup_key(provider, directory, REGION, root)
    # The backup key's wrapped bytes put in the passphrase's place: bound to another purpose.
    shutil.copy(directory / BACKUP_KEY_FILE, directory / PASSPHRASE_FILE)
    with pytest.raises(KeyProviderError):
        load_backup_passphrase(tmp_path, REGION)
    # Another region's passphrase file: bound to that region.
    (directory / PASSPHRASE_FILE).unlink()
    ensure_backup_passphrase(provider, directory, "us", root)
    document = json.loads((directory / PASSPHRASE_FILE).read_text())
    assert document["root_key_ref"] == root
    with pytest.raises(KeyProviderError):
        load_backup_passphrase(tmp_path, REGION)


def test_a_region_without_one_says_so(tmp_path: Path) -> None:
    with pytest.raises(BackupPassphraseMissing, match="has no backup passphrase"):
        load_backup_passphrase(tmp_path, REGION)


def test_only_the_backup_service_may_ask_kms_for_it() -> None:
    policy = load_policy()
    assert policy.allows("backup", "kms", "GET", ROUTE)
    for caller in ("issues", "media", "edge", "operator", "tcs", "identity"):
        assert not policy.allows(caller, "kms", "GET", ROUTE), caller
