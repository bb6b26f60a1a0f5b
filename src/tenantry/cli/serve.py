"""Run one service process of a cloud; `tenantry up` starts one of these per service and region."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tenantry.platform.asgi import ASGIApp
from tenantry.platform.directory import GLOBAL
from tenantry.platform.logs import configure_logging
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.server import serve
from tenantry.platform.tls import ensure_server_cert
from tenantry.services.edge.app import create_app as create_edge
from tenantry.services.identity.app import create_app as create_identity
from tenantry.services.issues.app import create_app as create_issues
from tenantry.services.tcs.app import create_app as create_tcs

GLOBAL_SERVICES = frozenset({"identity", "tcs"})
REGIONAL_SERVICES = frozenset({"edge", "issues"})
APP_FACTORIES: dict[str, Callable[[ServiceRuntime], Any]] = {
    "identity": create_identity,
    "tcs": create_tcs,
    "edge": create_edge,
    "issues": create_issues,
}


def process_name(service: str, region: str) -> str:
    """The name of a service process: `tcs` for a global one, `edge-eu` for a regional one."""
    return service if region == GLOBAL else f"{service}-{region}"


def run_service(
    service: str, region: str, data_dir: Path, port: int, topology_file: Path | None
) -> None:
    """Load the runtime of one service and serve it on 127.0.0.1:`port` until stopped."""
    if service in GLOBAL_SERVICES and region != GLOBAL:
        raise ValueError(f"{service} is a global service; its region is {GLOBAL!r}")
    if service in REGIONAL_SERVICES and region == GLOBAL:
        raise ValueError(f"{service} runs per region; name one")
    name = process_name(service, region)
    configure_logging(service, region)
    runtime = ServiceRuntime.load(service, region, data_dir, topology_file)
    if region != GLOBAL and region not in runtime.topology.regions:
        raise ValueError(f"there is no region {region!r} in the topology")
    app: ASGIApp = APP_FACTORIES[service](runtime)
    cert, key = ensure_server_cert(data_dir / "tls", name)
    serve(app, host="127.0.0.1", port=port, cert=cert, key=key)
