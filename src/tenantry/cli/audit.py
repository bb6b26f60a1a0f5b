"""`tenantry audit`: check a site's tamper-evident audit log as a customer would."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tenantry.cli.data_dir_option import DataDirOption, resolve_data_dir
from tenantry.cli.datadir import DataDir, read_json

TOKEN_ENV = "TENANTRY_TOKEN"  # noqa: S105  # the name of a variable, not a token

audit_app = typer.Typer(no_args_is_help=True, help="The audit log of each site.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@audit_app.command("verify")
def verify(
    site: Annotated[str, typer.Argument(help="The site whose log to check.")],
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
    """Fetch the site's events, checkpoint and proofs over the edge and check them all."""
    # Imported here: every `tenantry` process defines this command, few verify a log.
    from tenantry.cli.audit_verify import AuditCheckFailed, AuditEdge, EdgeUnreachable, verify_log

    data_dir = resolve_data_dir(data_dir_given)
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
    since = None
    if since_checkpoint is not None:
        try:
            since = since_checkpoint.read_text(encoding="utf-8")
        except OSError as exc:
            err.print(f"[red]cannot read {since_checkpoint}:[/] {exc.strerror}")
            raise typer.Exit(2) from exc
    edge = AuditEdge(url, str(cloud["ca"]), site, token)
    try:
        verified = verify_log(edge, data_dir, since)
    except AuditCheckFailed as exc:
        err.print(f"[red]FAILED:[/] {exc}")
        raise typer.Exit(1) from exc
    except EdgeUnreachable as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    finally:
        edge.close()
    if save_checkpoint is not None:
        save_checkpoint.write_text(verified.note, encoding="utf-8")
    out.print(f"ok: {verified.size} events of {site} verified against the signed checkpoint")
