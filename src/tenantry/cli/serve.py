"""Run one service process of a cloud; `tenantry up` starts one of these per service and region."""

from __future__ import annotations

from pathlib import Path

from tenantry.cli.plan import GLOBAL_SERVICES, REGIONAL_SERVICES, process_name
from tenantry.platform.asgi import ASGIApp
from tenantry.platform.directory import GLOBAL
from tenantry.platform.guarded_http import HttpGuards
from tenantry.platform.logs import configure_logging
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.server import serve
from tenantry.platform.tls import ensure_server_cert

SERVICES = frozenset(GLOBAL_SERVICES + REGIONAL_SERVICES)


def create_app(service: str, runtime: ServiceRuntime) -> ASGIApp:
    """Build one service's app, importing only that service (each process runs one)."""
    if service == "identity":
        from tenantry.services.identity.app import create_app as create_identity

        return create_identity(runtime)
    if service == "tcs":
        from tenantry.services.tcs.app import create_app as create_tcs

        return create_tcs(runtime)
    if service == "edge":
        from tenantry.services.edge.app import create_app as create_edge

        return create_edge(runtime)
    if service == "issues":
        from tenantry.services.issues.app import create_app as create_issues

        return create_issues(runtime)
    if service == "kms":
        from tenantry.services.kms.app import create_app as create_kms

        return create_kms(runtime)
    if service == "media":
        from tenantry.services.media.app import create_app as create_media

        return create_media(runtime)
    raise ValueError(f"unknown service {service!r}")


def http_guards(service: str, runtime: ServiceRuntime) -> HttpGuards:
    """The public listener's guards for the edge; the defaults for internal listeners."""
    if service == "edge":
        from tenantry.services.edge.listener import edge_guards

        return edge_guards(runtime.topology.edge_limits)
    return HttpGuards()


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
    app = create_app(service, runtime)
    cert, key = ensure_server_cert(data_dir / "tls", name)
    serve(
        app, host="127.0.0.1", port=port, cert=cert, key=key, guards=http_guards(service, runtime)
    )
