"""Run one process of a cloud: `tenantry up` starts these, handing each its listening sockets.

A process runs one service (the fleet layout) or several (one region's, or the global ones).
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Mapping
from pathlib import Path

import structlog

from tenantry.cli.plan import process_name
from tenantry.platform.directory import GLOBAL, ServiceDirectory
from tenantry.platform.in_process import InProcessApps
from tenantry.platform.logs import configure_logging, configure_service_logs
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.server import serve
from tenantry.platform.service_host import Hosted, ServiceHost
from tenantry.platform.service_spec import ServiceSpec, build_app
from tenantry.platform.tls import ensure_server_cert
from tenantry.services.registry import public_routes, spec


def parse_listeners(values: list[str]) -> dict[str, int]:
    """`["edge=5", ...]` -> `{"edge": 5}`: which inherited socket each service serves on."""
    listeners: dict[str, int] = {}
    for value in values:
        service, _, fd = value.partition("=")
        if not fd.isdigit() or service in listeners:
            raise ValueError(f"--listen takes SERVICE=FD, each service once, not {value!r}")
        spec(service)  # an unknown service is refused here, by name
        listeners[service] = int(fd)
    if not listeners:
        raise ValueError("name at least one service with --listen SERVICE=FD")
    return listeners


def run_services(
    process: str,
    region: str,
    data_dir: Path,
    listeners: Mapping[str, int],
    topology_file: Path | None,
) -> None:
    """Load each service's runtime and serve it on its inherited socket until stopped.

    `process` names the process (its certificate is the one made for that name). Several
    services share one server, and call each other in process; each keeps its own runtime
    (key, token verifier, databases) and its own log file.
    """
    specs = [spec(service) for service in listeners]
    for found in specs:
        if found.is_global and region != GLOBAL:
            raise ValueError(f"{found.name} is a global service; its region is {GLOBAL!r}")
        if not found.is_global and region == GLOBAL:
            raise ValueError(f"{found.name} runs per region; name one")
    sockets = {service: inherited_socket(fd) for service, fd in listeners.items()}
    cert, key = ensure_server_cert(data_dir / "tls", process)
    if len(specs) == 1:
        [found] = specs
        configure_logging(found.name, region)
        runtime = _load_runtime(found, region, data_dir, topology_file)
        guards = {_port(sockets[found.name]): found.listener_guards(runtime)}
        serve(
            build_app(found, runtime),
            sockets=list(sockets.values()),
            cert=cert,
            key=key,
            guards=guards,
        )
        return
    configure_service_logs(
        {s.name: data_dir / "logs" / f"{process_name(s.name, region)}.log" for s in specs}
    )
    in_process = InProcessApps()
    directory = ServiceDirectory.load(data_dir, in_process)
    hosted = []
    guards = {}
    for found in specs:
        runtime = _load_runtime(found, region, data_dir, topology_file, directory)
        port = _port(sockets[found.name])
        guards[port] = found.listener_guards(runtime)
        # What a service logs while its app is built (kms making its first root key) is its own.
        with structlog.contextvars.bound_contextvars(service=found.name, region=region):
            app = build_app(found, runtime)
        hosted.append(Hosted(found.name, region, app, port))
    host = ServiceHost(hosted)
    for each in hosted:
        in_process.add(each.service, region, host.app_of(each))
    serve(host, sockets=list(sockets.values()), cert=cert, key=key, guards=guards)


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def _load_runtime(
    found: ServiceSpec,
    region: str,
    data_dir: Path,
    topology_file: Path | None,
    directory: ServiceDirectory | None = None,
) -> ServiceRuntime:
    """The runtime of one service of this process; a public one gets the public route table."""
    runtime = ServiceRuntime.load(found.name, region, data_dir, topology_file, directory)
    _check_region(runtime, region)
    if found.public:
        runtime = dataclasses.replace(runtime, public_routes=public_routes())
    return runtime


def _check_region(runtime: ServiceRuntime, region: str) -> None:
    if region != GLOBAL and region not in runtime.topology.regions:
        raise ValueError(f"there is no region {region!r} in the topology")


def inherited_socket(fd: int) -> socket.socket:
    """The listening socket `up` bound and passed down as file descriptor `fd`."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ValueError(f"file descriptor {fd} is not an open socket: {exc.strerror}") from None
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"file descriptor {fd} is not a stream socket")
    return sock
