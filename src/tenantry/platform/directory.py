"""Where each service of a running cloud listens, so callers can reach a callee in a region.

`tenantry up` writes `DATA_DIR/run/directory.json`; every process reads it at start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tenantry.platform.in_process import InProcessApps

GLOBAL = "global"


class DirectoryError(LookupError):
    """No URL is known for a service in a region."""


@dataclass(frozen=True, slots=True)
class ServiceDirectory:
    """URLs of every service process, by service then region (`global` for global services)."""

    services: Mapping[str, Mapping[str, str]]
    ca_file: Path
    in_process: InProcessApps | None = field(default=None, compare=False)
    """The services running in this process, which calls reach without the network."""

    def url(self, service: str, region: str = GLOBAL) -> str:
        """The base URL of `service` in `region`, falling back to its global instance."""
        regions = self.services.get(service, {})
        url = regions.get(region) or regions.get(GLOBAL)
        if url is None:
            raise DirectoryError(f"no {service} service is known in region {region!r}")
        return url

    @classmethod
    def load(cls, data_dir: Path, in_process: InProcessApps | None = None) -> ServiceDirectory:
        """Read the directory that `tenantry up` wrote for this data directory; `in_process`
        holds the services this process runs beside the one loading it, if any."""
        path = data_dir / "run" / "directory.json"
        document = json.loads(path.read_text())
        return cls(
            services=document["services"], ca_file=Path(document["ca"]), in_process=in_process
        )
