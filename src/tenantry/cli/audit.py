"""`tenantry audit`: check a site's tamper-evident audit log as a customer would."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tenantry.cli.data_dir_option import DataDirOption, resolve_data_dir
from tenantry.cli.datadir import DataDir, read_json

if TYPE_CHECKING:
    from tenantry.cli.audit_verify import LogSource

TOKEN_ENV = "TENANTRY_TOKEN"  # noqa: S105  # the name of a variable, not a token

audit_app = typer.Typer(no_args_is_help=True, help="The audit log of each site.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@audit_app.command("verify")
def verify(
    site: Annotated[
        str | None, typer.Argument(help="The site whose log to check (not with --operator).")
    ] = None,
    operator: Annotated[
        bool,
        typer.Option(
            "--operator",
            help="Check a region's operator log (the cloud's own events, in no tenant's log) "
            "instead, as the operator: --region's, or the default region's, where the "
            "transparency register's events are.",
        ),
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            help=f"A site admin's user token (default: ${TOKEN_ENV}).", show_default=False
        ),
    ] = None,
    since_checkpoint: Annotated[
        Path | None,
        typer.Option(help="A checkpoint note saved earlier: prove the log only grew since."),
    ] = None,
    save_checkpoint: Annotated[
        Path | None, typer.Option(help="Write the checkpoint just verified to this file.")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Ask this region's edge.")] = None,
    data_dir_given: DataDirOption = None,
) -> None:
    """Fetch the site's events, checkpoint and proofs over the edge and check them all (or,
    with --operator, the operator log's from its audit service)."""
    # Imported here: every `tenantry` process defines this command, few verify a log.
    from tenantry.cli.audit_verify import AuditEdge

    data_dir = resolve_data_dir(data_dir_given)
    if operator == (site is not None):
        err.print("[red]name a site, or give --operator for the operator log[/]")
        raise typer.Exit(2)
    if operator:
        verify_operator_log(data_dir, region, since_checkpoint, save_checkpoint)
        return
    assert site is not None
    token = token or os.environ.get(TOKEN_ENV)
    if not token:
        err.print(f"[red]a site admin's token is needed:[/] --token or ${TOKEN_ENV}")
        raise typer.Exit(2)
    cloud_file = DataDir.at(data_dir).cloud_file
    if not cloud_file.exists():
        err.print("[red]the cloud is not running[/] (no cloud.json): start it with tenantry up")
        raise typer.Exit(2)
    cloud = read_json(cloud_file)
    edges: dict[str, str] = cloud["edges"]
    if region is not None and region not in edges:
        err.print(f"[red]no edge in region {region!r};[/] one of: {', '.join(sorted(edges))}")
        raise typer.Exit(2)
    url = edges[region] if region is not None else edges[sorted(edges)[0]]
    since = _read_since(since_checkpoint)
    edge = AuditEdge(url, str(cloud["ca"]), site, token)
    try:
        size = _check(edge, data_dir, since, save_checkpoint)
    finally:
        edge.close()
    out.print(f"ok: {size} events of {site} verified against the signed checkpoint")


def _read_since(since_checkpoint: Path | None) -> str | None:
    """The text of a checkpoint saved earlier, if one is given."""
    if since_checkpoint is None:
        return None
    try:
        return since_checkpoint.read_text(encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]cannot read {since_checkpoint}:[/] {exc.strerror}")
        raise typer.Exit(2) from exc


def _check(source: LogSource, data_dir: Path, since: str | None, save: Path | None) -> int:
    """Verify a log, exiting 1 if it does not hold up and 2 if it cannot be read; its size."""
    from tenantry.cli.audit_verify import AuditCheckFailed, EdgeUnreachable, verify_log

    try:
        verified = verify_log(source, data_dir, since)
    except AuditCheckFailed as exc:
        err.print(f"[red]FAILED:[/] {exc}")
        raise typer.Exit(1) from exc
    except EdgeUnreachable as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if save is not None:
        save.write_text(verified.note, encoding="utf-8")
    return verified.size


def verify_operator_log(
    data_dir: Path, region: str | None, since_checkpoint: Path | None, save: Path | None
) -> None:
    """Check the operator log as `verify --operator` does."""
    from tenantry.cli.audit_verify import OperatorLog
    from tenantry.cli.backup import BackupCommandError, recorded_topology
    from tenantry.platform.audit.operator_log import operator_log_region

    try:
        topology = recorded_topology(data_dir)
    except BackupCommandError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    home = operator_log_region(topology) if region is None else region
    if home not in topology.regions:
        err.print(f"[red]no region {home!r};[/] one of: {', '.join(topology.regions)}")
        raise typer.Exit(2)
    since = _read_since(since_checkpoint)
    size = _check(OperatorLog(data_dir, home), data_dir, since, save)
    out.print(f"ok: {size} events of the operator log ({home}) verified against its checkpoint")
