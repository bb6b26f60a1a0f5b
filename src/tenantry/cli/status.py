"""`tenantry status`: what a local cloud looks like and whether every process answers.

It reads only what `up` left in the data directory (the process directory and the topology), so it
works from any shell, and asks tcs, as the operator, how many tenants each shard holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from tenantry.cli import health
from tenantry.cli.datadir import DataDir
from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, tenant_stats
from tenantry.cli.plan import ProcessSpec, processes_from_directory
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
        processes = processes_from_directory(directory.services)
        topology = load_topology(dirs.topology_file if dirs.topology_file.exists() else None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, TopologyError) as exc:
        err.print(f"[red]tenantry status:[/] cannot read the cloud in {dirs.root}: {exc}")
        return 2

    with health.client(directory.ca_file) as http:
        states = {p.name: health.is_healthy(http, p.url) for p in processes}
    tcs_up = any(states[p.name] for p in processes if p.service == "tcs")
    counts = _tenant_counts(dirs) if tcs_up else None

    out.print(_regions_table(topology, counts))
    out.print(_processes_table(processes, states))
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


def _processes_table(processes: list[ProcessSpec], states: dict[str, bool]) -> Table:
    table = Table(title="Processes", title_justify="left")
    for column in ("process", "region", "url", "state"):
        table.add_column(column)
    for process in processes:
        state = "[green]up[/]" if states[process.name] else "[red]down[/]"
        region = "-" if process.region == GLOBAL else process.region
        table.add_row(process.name, region, process.url, state)
    return table
