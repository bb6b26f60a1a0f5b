"""backup as the registry sees it: one per region, keeping no database of its own."""

from __future__ import annotations

from tenantry.platform.asgi import ASGIApp
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.service_spec import Placement, ServiceSpec
from tenantry.platform.topology import Topology
from tenantry.services.backup.personal_data import PERSONAL_DATA


def _create_app(runtime: ServiceRuntime) -> ASGIApp:
    from tenantry.services.backup.app import create_app

    return create_app(runtime)


def _backups_enabled(topology: Topology) -> bool:
    return topology.backup.enabled


SPEC = ServiceSpec(
    name="backup",
    placement=Placement.REGIONAL,
    create_app=_create_app,
    runs_in=_backups_enabled,
    personal_data=PERSONAL_DATA,
    loops=frozenset({"backup-agent", "backup-pgbackrest", "backup-media"}),
)
