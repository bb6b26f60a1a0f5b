"""Where each service of a running cloud listens, so callers can reach a callee in a region.

`tenantry up` writes `DATA_DIR/run/directory.json`; every process reads it at start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

GLOBAL = "global"


class DirectoryError(LookupError):
    """No URL is known for a service in a region."""


@dataclass(frozen=True, slots=True)
class ServiceDirectory:
    """URLs of every service process, by service then region (`global` for global services)."""

    services: Mapping[str, Mapping[str, str]]
    ca_file: Path

    def url(self, service: str, region: str = GLOBAL) -> str:
        """The base URL of `service` in `region`, falling back to its global instance."""
        regions = self.services.get(service, {})
        url = regions.get(region) or regions.get(GLOBAL)
        if url is None:
            raise DirectoryError(f"no {service} service is known in region {region!r}")
        return url

    @classmethod
    def load(cls, data_dir: Path) -> ServiceDirectory:
        """Read the directory that `tenantry up` wrote for this data directory."""
        path = data_dir / "run" / "directory.json"
        document = json.loads(path.read_text())
        return cls(services=document["services"], ca_file=Path(document["ca"]))
