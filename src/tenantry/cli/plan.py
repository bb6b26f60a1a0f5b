"""Which processes a local cloud runs and where they listen, derived from the topology.

`up` writes the result twice: `run/directory.json` (every process, for services to find each
other) and `cloud.json` (the edges only, for clients).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tenantry.platform.directory import GLOBAL
from tenantry.platform.topology import Topology
from tenantry.services.registry import SPECS, names
from tenantry.services.registry import spec as service_spec

OPERATOR = "operator"
"""The identity the admin command line signs its calls with."""
KEY_IDENTITIES = (*names(), OPERATOR)
"""Every identity that signs service tokens: each service, and the operator."""
LOOPBACK = "127.0.0.1"


def process_name(service: str, region: str) -> str:
    """The name of a service process: `tcs` for a global one, `edge-eu` for a regional one."""
    return service if region == GLOBAL else f"{service}-{region}"


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One service process: what it runs, for which region, and its port."""

    service: str
    region: str
    port: int

    @property
    def name(self) -> str:
        """`identity` for a global service, `edge-eu` for a regional one."""
        return process_name(self.service, self.region)

    @property
    def url(self) -> str:
        """The HTTPS base URL the process answers on."""
        return f"https://{LOOPBACK}:{self.port}"


def free_ports(count: int) -> list[int]:
    """Ask the kernel for `count` distinct free loopback ports.

    All sockets stay open until every port is read, so one run never gets a port twice.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def plan_processes(topology: Topology) -> list[ProcessSpec]:
    """Every process of the cloud, global services first, each on a fresh free port."""
    places = [(spec.name, GLOBAL) for spec in SPECS if spec.is_global]
    places += [
        (spec.name, region) for region in topology.regions for spec in SPECS if not spec.is_global
    ]
    ports = free_ports(len(places))
    return [
        ProcessSpec(service, region, port)
        for (service, region), port in zip(places, ports, strict=True)
    ]


def directory_document(processes: list[ProcessSpec], ca: Path) -> dict[str, Any]:
    """`{"services": {service: {region: url}}, "ca": path}` for `run/directory.json`."""
    services: dict[str, dict[str, str]] = {}
    for process in processes:
        services.setdefault(process.service, {})[process.region] = process.url
    return {"services": services, "ca": str(ca)}


def cloud_document(processes: list[ProcessSpec], ca: Path) -> dict[str, Any]:
    """`{"edges": {region: url}, "ca": path}`: all a client needs to reach the cloud."""
    edges = {p.region: p.url for p in processes if service_spec(p.service).public}
    return {"edges": edges, "ca": str(ca)}


def processes_from_directory(services: Mapping[str, Mapping[str, str]]) -> list[ProcessSpec]:
    """Read the processes back from the services of a `directory.json`."""
    processes = []
    for service, regions in services.items():
        for region, url in regions.items():
            port = urlsplit(str(url)).port
            if port is None:
                raise ValueError(f"directory entry {service}/{region} has no port: {url}")
            processes.append(ProcessSpec(service, region, port))
    return processes
