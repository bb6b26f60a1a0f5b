"""`tenantry status`: what a local cloud looks like and whether every process answers.

It reads only what `up` left in the data directory (the service directory, the processes and their
restarts, the topology), so it works from any shell, and asks tcs, as the operator, how many
tenants each shard holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from tenantry.cli import health
from tenantry.cli.datadir import DataDir, read_json
from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, tenant_stats
from tenantry.cli.plan import Listener, listeners_from_directory
from tenantry.platform.directory import GLOBAL, ServiceDirectory
from tenantry.platform.topology import Topology, TopologyError, load_topology

# What a failed or malformed /stats call can raise, from signing the token to reading the body.
_NO_COUNTS = (*CLOUD_NOT_REACHABLE, TypeError, AttributeError)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@dataclass(frozen=True, slots=True)
class TenantCounts:
    """How many tenants tcs has placed on each shard, and in all."""

    shards: dict[str, int]
    total: int


def run_status(data_dir: Path) -> int:
    """Print the cloud's shape and health; exit 0 if all is up, 1 if not, 2 if no cloud runs."""
    dirs = DataDir.at(data_dir)
    if not dirs.cloud_file.exists() or not dirs.directory_file.exists():
        err.print(
            f"No running cloud in {dirs.root}: start one with `tenantry up --data-dir {data_dir}`."
        )
        return 2
    try:
        directory = ServiceDirectory.load(dirs.root)
        listeners = listeners_from_directory(directory.services)
        topology = load_topology(dirs.topology_file if dirs.topology_file.exists() else None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, TopologyError) as exc:
        err.print(f"[red]tenantry status:[/] cannot read the cloud in {dirs.root}: {exc}")
        return 2

    with health.client(directory.ca_file) as http:
        states = {item.place.name: health.is_healthy(http, item.url) for item in listeners}
    tcs_up = any(states[item.place.name] for item in listeners if item.place.service == "tcs")
    counts = _tenant_counts(dirs) if tcs_up else None

    out.print(_regions_table(topology, counts))
    out.print(_services_table(listeners, states, _processes(dirs)))
    if counts is None:
        out.print("Tenants: tcs unavailable")
    else:
        out.print(f"Tenants: {counts.total}")
    down = sorted(name for name, up in states.items() if not up)
    if down:
        err.print(f"[red]Down:[/] {', '.join(down)} (logs in {dirs.logs})")
        return 1
    return 0


def _tenant_counts(dirs: DataDir) -> TenantCounts | None:
    """Ask tcs, as the operator, how many tenants each shard holds; None if it cannot say."""
    try:
        response = tenant_stats(dirs.root)
        if response.status != httpx.codes.OK:
            return None
        body: Any = response.json()
        shards = {str(name): int(count) for name, count in body["shards"].items()}
        return TenantCounts(shards=shards, total=int(body["tenants"]))
    except _NO_COUNTS as exc:
        err.print(f"[yellow]tcs gave no tenant counts:[/] {type(exc).__name__}: {exc}")
        return None


def _regions_table(topology: Topology, counts: TenantCounts | None) -> Table:
    table = Table(title="Regions", title_justify="left")
    for column in ("region", "zones", "shard", "zone", "tenants"):
        table.add_column(column)
    for region in topology.regions.values():
        for index, shard in enumerate(region.shards):
            tenants = "?" if counts is None else str(counts.shards.get(shard.name, 0))
            name, zones = (region.name, ", ".join(region.zones)) if index == 0 else ("", "")
            table.add_row(name, zones, shard.name, shard.zone, tenants)
    return table


@dataclass(frozen=True, slots=True)
class Hosts:
    """Which process runs each service instance, and how often `up` restarted each process."""

    process_of: dict[str, str]
    restarts: dict[str, int]


def _processes(dirs: DataDir) -> Hosts:
    """What `up` recorded in `run/pids.json`; empty if it recorded nothing readable."""
    try:
        document = read_json(dirs.pids_file)
        services = {str(k): str(v) for k, v in dict(document.get("services", {})).items()}
        restarts = {str(k): int(v) for k, v in dict(document.get("restarts", {})).items()}
    except (OSError, ValueError, TypeError):
        return Hosts({}, {})
    return Hosts(services, restarts)


def _services_table(listeners: list[Listener], states: dict[str, bool], hosts: Hosts) -> Table:
    table = Table(title="Services", title_justify="left")
    for column in ("service", "region", "url", "state", "process", "restarts"):
        table.add_column(column)
    for item in listeners:
        name = item.place.name
        state = "[green]up[/]" if states[name] else "[red]down[/]"
        region = "-" if item.place.region == GLOBAL else item.place.region
        process = hosts.process_of.get(name, "?")
        restarts = hosts.restarts.get(process)
        table.add_row(
            name, region, item.url, state, process, "?" if restarts is None else str(restarts)
        )
    return table
