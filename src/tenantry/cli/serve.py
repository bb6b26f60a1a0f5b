"""Run one service process of a cloud; `tenantry up` starts one of these per service and region."""

from __future__ import annotations

from pathlib import Path

from tenantry.cli.plan import process_name
from tenantry.platform.directory import GLOBAL
from tenantry.platform.logs import configure_logging
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.server import serve
from tenantry.platform.service_spec import build_app
from tenantry.platform.tls import ensure_server_cert
from tenantry.services.registry import names, spec

SERVICES = frozenset(names())


def run_service(
    service: str, region: str, data_dir: Path, port: int, topology_file: Path | None
) -> None:
    """Load the runtime of one service and serve it on 127.0.0.1:`port` until stopped."""
    found = spec(service)
    if found.is_global and region != GLOBAL:
        raise ValueError(f"{service} is a global service; its region is {GLOBAL!r}")
    if not found.is_global and region == GLOBAL:
        raise ValueError(f"{service} runs per region; name one")
    name = process_name(service, region)
    configure_logging(service, region)
    runtime = ServiceRuntime.load(service, region, data_dir, topology_file)
    if region != GLOBAL and region not in runtime.topology.regions:
        raise ValueError(f"there is no region {region!r} in the topology")
    app = build_app(found, runtime)
    cert, key = ensure_server_cert(data_dir / "tls", name)
    serve(app, host="127.0.0.1", port=port, cert=cert, key=key)
