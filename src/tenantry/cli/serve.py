"""Run one process of a cloud: `tenantry up` starts these, handing each its listening sockets."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path

from tenantry.platform.directory import GLOBAL
from tenantry.platform.logs import configure_logging
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.server import serve
from tenantry.platform.service_spec import build_app
from tenantry.platform.tls import ensure_server_cert
from tenantry.services.registry import spec


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

    `process` names the process (its certificate is the one made for that name).
    """
    if len(listeners) != 1:
        raise ValueError("one service per process")
    [(service, fd)] = listeners.items()
    found = spec(service)
    if found.is_global and region != GLOBAL:
        raise ValueError(f"{service} is a global service; its region is {GLOBAL!r}")
    if not found.is_global and region == GLOBAL:
        raise ValueError(f"{service} runs per region; name one")
    configure_logging(service, region)
    runtime = ServiceRuntime.load(service, region, data_dir, topology_file)
    if region != GLOBAL and region not in runtime.topology.regions:
        raise ValueError(f"there is no region {region!r} in the topology")
    app = build_app(found, runtime)
    cert, key = ensure_server_cert(data_dir / "tls", process)
    serve(app, sockets=[inherited_socket(fd)], cert=cert, key=key)


def inherited_socket(fd: int) -> socket.socket:
    """The listening socket `up` bound and passed down as file descriptor `fd`."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ValueError(f"file descriptor {fd} is not an open socket: {exc.strerror}") from None
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"file descriptor {fd} is not a stream socket")
    return sock
