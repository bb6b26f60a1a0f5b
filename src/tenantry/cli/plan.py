"""Which processes a local cloud runs and where each service listens, derived from the topology.

Two layouts run the same services: by default one process per region (its edge and regional
services) and one for the global services; with `--process-per-service` (the fleet layout, what
a fleet of machines runs) one process per service and region.

Every service instance (a service, in a region or global) has one listener. `up` binds them all
before any process starts, and hands each process the sockets of the services it runs, so no
other program can take a port in between. The edges' ports are kept across runs: the topology's
`[edge] ports` decide them, or else the ports the last run recorded in `run/ports.json`.

`up` writes the listeners twice: `run/directory.json` (every service, for services to find each
other) and `cloud.json` (the edges only, for clients).
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tenantry.platform.directory import GLOBAL
from tenantry.platform.service_spec import ServiceSpec
from tenantry.platform.topology import Topology
from tenantry.services.registry import SPECS, names
from tenantry.services.registry import spec as service_spec

OPERATOR = "operator"
"""The identity the admin command line signs its calls with."""
KEY_IDENTITIES = (*names(), OPERATOR)
"""Every identity that signs service tokens: each service, and the operator."""
LOOPBACK = "127.0.0.1"
LISTEN_BACKLOG = 2048
"""Connections the kernel holds for a listener while its process is (re)starting."""


GLOBAL_PROCESS = "global"
"""The process of the global services, in the default layout."""


class Layout(StrEnum):
    """How the services are spread over processes."""

    REGIONS = "regions"
    """One process per region, and one for the global services (the default)."""
    FLEET = "fleet"
    """One process per service and region."""


class PortUnavailable(Exception):
    """A port the topology names for an edge is taken; the message is fit to show as is."""


def process_name(service: str, region: str) -> str:
    """The name of a service instance: `tcs` for a global one, `edge-eu` for a regional one."""
    return service if region == GLOBAL else f"{service}-{region}"


@dataclass(frozen=True, slots=True)
class Place:
    """One instance of a service: the service, and its region (`global` for global ones)."""

    service: str
    region: str

    @property
    def name(self) -> str:
        """`identity` for a global service, `edge-eu` for a regional one."""
        return process_name(self.service, self.region)


@dataclass(frozen=True, slots=True)
class Listener:
    """Where one service instance answers."""

    place: Place
    port: int

    @property
    def url(self) -> str:
        """The HTTPS base URL the service answers on."""
        return f"https://{LOOPBACK}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One process of the cloud: its name, its region, and the services it runs."""

    name: str
    region: str
    services: tuple[str, ...]

    @property
    def places(self) -> tuple[Place, ...]:
        """The service instances this process runs."""
        return tuple(Place(service, self.region) for service in self.services)


def running_specs(topology: Topology) -> list[ServiceSpec]:
    """The services a cloud of the topology runs (the registry's, less those it leaves out)."""
    return [spec for spec in SPECS if spec.runs_in(topology)]


def places(topology: Topology) -> list[Place]:
    """Every service instance of the cloud, global services first."""
    running = running_specs(topology)
    found = [Place(spec.name, GLOBAL) for spec in running if spec.is_global]
    return found + [
        Place(spec.name, region)
        for region in topology.regions
        for spec in running
        if not spec.is_global
    ]


def region_process(region: str) -> str:
    """The name of a region's process in the default layout: `region-eu`."""
    return f"region-{region}"


def plan_processes(topology: Topology, layout: Layout = Layout.REGIONS) -> list[ProcessSpec]:
    """Every process of the cloud, the global services' first."""
    if layout is Layout.FLEET:
        return [ProcessSpec(p.name, p.region, (p.service,)) for p in places(topology)]
    running = running_specs(topology)
    global_services = tuple(spec.name for spec in running if spec.is_global)
    regional = tuple(spec.name for spec in running if not spec.is_global)
    return [ProcessSpec(GLOBAL_PROCESS, GLOBAL, global_services)] + [
        ProcessSpec(region_process(region), region, regional) for region in topology.regions
    ]


def wanted_ports(topology: Topology, recorded: Mapping[str, Any]) -> dict[Place, tuple[int, bool]]:
    """The port each public service instance should get, and whether the topology fixed it.

    `recorded` is `run/ports.json` of the last run (`{service: {region: port}}`); the topology's
    `[edge] ports` win over it. Instances with neither get a fresh port.
    """
    wanted: dict[Place, tuple[int, bool]] = {}
    for place in places(topology):
        if not service_spec(place.service).public:
            continue
        fixed = topology.edge_ports.get(place.region)
        previous = recorded.get(place.service, {})
        port = previous.get(place.region) if isinstance(previous, dict) else None
        if fixed is not None:
            wanted[place] = (fixed, True)
        elif isinstance(port, int) and 0 < port < 65536:
            wanted[place] = (port, False)
    return wanted


def bind_listeners(
    topology: Topology,
    recorded: Mapping[str, Any],
    on_moved: Callable[[Place, int, int], None] = lambda _place, _old, _new: None,
) -> dict[Place, socket.socket]:
    """A listening loopback socket for every service instance, bound now and kept by `up`.

    A port the topology fixes that is taken raises PortUnavailable. A recorded port that is
    taken is replaced by a fresh one, reported through `on_moved(place, old, new)`.
    """
    wanted = wanted_ports(topology, recorded)
    bound: dict[Place, socket.socket] = {}
    try:
        for place in places(topology):
            port, fixed = wanted.get(place, (0, False))
            try:
                bound[place] = _listen(port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or port == 0:
                    raise
                if fixed:
                    raise PortUnavailable(
                        f"cannot listen on {LOOPBACK}:{port} for {place.name} ([edge] ports in "
                        "the topology): the port is in use"
                    ) from None
                bound[place] = _listen(0)
                on_moved(place, port, bound[place].getsockname()[1])
    except BaseException:
        for sock in bound.values():
            sock.close()
        raise
    return bound


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # A port the last run used may still have connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def listeners_of(sockets: Mapping[Place, socket.socket]) -> list[Listener]:
    """The listener of every bound socket, in the order they were bound."""
    return [Listener(place, int(sock.getsockname()[1])) for place, sock in sockets.items()]


def ports_document(listeners: list[Listener]) -> dict[str, Any]:
    """`{service: {region: port}}` of the public services, for `run/ports.json`."""
    ports: dict[str, dict[str, int]] = {}
    for listener in listeners:
        if service_spec(listener.place.service).public:
            ports.setdefault(listener.place.service, {})[listener.place.region] = listener.port
    return ports


def directory_document(listeners: list[Listener], ca: Path) -> dict[str, Any]:
    """`{"services": {service: {region: url}}, "ca": path}` for `run/directory.json`."""
    services: dict[str, dict[str, str]] = {}
    for listener in listeners:
        services.setdefault(listener.place.service, {})[listener.place.region] = listener.url
    return {"services": services, "ca": str(ca)}


def cloud_document(listeners: list[Listener], ca: Path) -> dict[str, Any]:
    """`{"edges": {region: url}, "ca": path}`: all a client needs to reach the cloud."""
    edges = {
        listener.place.region: listener.url
        for listener in listeners
        if service_spec(listener.place.service).public
    }
    return {"edges": edges, "ca": str(ca)}


def listeners_from_directory(services: Mapping[str, Mapping[str, str]]) -> list[Listener]:
    """Read the listeners back from the services of a `directory.json`."""
    found = []
    for service, regions in services.items():
        for region, url in regions.items():
            port = urlsplit(str(url)).port
            if port is None:
                raise ValueError(f"directory entry {service}/{region} has no port: {url}")
            found.append(Listener(Place(service, region), port))
    return found
