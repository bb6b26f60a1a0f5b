"""A secret kms makes once per region and keeps in its key directory, wrapped under a root key.

The backup key and the pgBackRest passphrase live in kms's key directory (`<data dir>/kms/
<region>/`), beside the root keys that wrap them, and not in a database: the databases are what
they protect, so a lost database must not take the secret needed to restore it. Each is one
JSON file holding the wrapped bytes and the root key's reference; the wrapping context names the
region, the secret's purpose and its version, so one secret's file cannot pass for another's.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from tenantry.platform.files import directory_lock, write_atomically
from tenantry.services.kms.audit import key_event
from tenantry.services.kms.providers import DATA_KEY_BYTES, KeyProvider


class RegionSecretMissing(LookupError):
    """The region has no such secret yet (kms never made it), or its file is damaged."""


def key_directory(data_dir: Path, region: str) -> Path:
    """Where kms keeps `region`'s root keys and its region secrets."""
    return data_dir / "kms" / region


@dataclass(frozen=True, slots=True)
class RegionSecret:
    """One kind of region secret: its file, the purpose it is wrapped for, its audit event."""

    file: str
    purpose: str
    created_event: str
    version: int = 1

    def _context(self, region: str) -> dict[str, str]:
        return {"region": region, "purpose": self.purpose, "version": str(self.version)}

    def ensure(self, provider: KeyProvider, directory: Path, region: str, root_ref: str) -> bytes:
        """The region's secret, made and wrapped under `root_ref` the first time."""
        path = directory / self.file
        with directory_lock(directory):
            if not path.exists():
                material = secrets.token_bytes(DATA_KEY_BYTES)
                wrapped = provider.wrap(root_ref, material, self._context(region))
                document = {
                    "version": self.version,
                    "root_key_ref": root_ref,
                    "wrapped": base64.b64encode(wrapped).decode("ascii"),
                }
                write_atomically(path, json.dumps(document).encode(), 0o600)
                key_event(self.created_event, region=region, root_key_ref=root_ref)
                return material
        return self.open(provider, directory, region)

    def open(self, provider: KeyProvider, directory: Path, region: str) -> bytes:
        """Unwrap the region's stored secret; RegionSecretMissing when there is none."""
        try:
            document = json.loads((directory / self.file).read_text())
            wrapped = base64.b64decode(document["wrapped"])
            ref = str(document["root_key_ref"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RegionSecretMissing(
                f"region {region} has no readable {self.purpose}: {exc}"
            ) from None
        return provider.unwrap(ref, wrapped, self._context(region))
