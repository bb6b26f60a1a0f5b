"""The `tenantry` command: run a cloud, inspect it, operate it, and check its policy."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tenantry.cli.audit import audit_app
from tenantry.cli.backup import backup_app
from tenantry.cli.data_dir_option import DataDirOption, resolve_data_dir
from tenantry.cli.keys import keys_app
from tenantry.cli.legal import legal_app
from tenantry.cli.privacy import privacy_app

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
tenant_app = typer.Typer(no_args_is_help=True, help="Operate on one tenant (site).")
policy_app = typer.Typer(no_args_is_help=True, help="The service-to-service allowlist.")
app.add_typer(tenant_app, name="tenant")
app.add_typer(policy_app, name="policy")
app.add_typer(keys_app, name="keys")
app.add_typer(backup_app, name="backup")
app.add_typer(audit_app, name="audit")
app.add_typer(privacy_app, name="privacy")
app.add_typer(legal_app, name="legal")
err = Console(stderr=True, soft_wrap=True)


@app.command()
def up(
    data_dir_given: DataDirOption = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Topology file (TOML).", exists=True)
    ] = None,
    process_per_service: Annotated[
        bool,
        typer.Option(
            "--process-per-service",
            help="Run each service in a process of its own, as a fleet does (default: one "
            "process per region and one for the global services).",
        ),
    ] = False,
) -> None:
    """Run a whole multi-region cloud on this machine, in the foreground."""
    from tenantry.cli.plan import Layout
    from tenantry.cli.up import run_up

    layout = Layout.FLEET if process_per_service else Layout.REGIONS
    raise typer.Exit(run_up(resolve_data_dir(data_dir_given, must_exist=False), config, layout))


@app.command()
def migrate(
    data_dir_given: DataDirOption = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Topology file (default: the one `up` recorded).", exists=True
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, max=64, help="Databases migrated at once.")
    ] = 4,
) -> None:
    """Bring every service database on every shard to the schema revision the code expects."""
    from tenantry.cli.migrate import run_migrate

    # Like `up`, migrate makes the databases of a directory that has none yet.
    raise typer.Exit(run_migrate(resolve_data_dir(data_dir_given, must_exist=False), config, jobs))


@app.command()
def status(data_dir_given: DataDirOption = None) -> None:
    """Show regions, shards, services and tenant counts of a running cloud."""
    from tenantry.cli.status import run_status

    raise typer.Exit(run_status(resolve_data_dir(data_dir_given)))


@app.command(hidden=True)
def serve(
    process: Annotated[str, typer.Option("--process", help="The process's name in the cloud.")],
    region: Annotated[str, typer.Option("--region")],
    listen: Annotated[list[str], typer.Option("--listen", help="SERVICE=FD, once per service.")],
    data_dir_given: DataDirOption = None,
    config: Annotated[Path | None, typer.Option("--config", exists=True)] = None,
) -> None:
    """Run one process of a cloud on the sockets `tenantry up` hands it."""
    from tenantry.cli.serve import parse_listeners, run_services
    from tenantry.services.registry import UnknownService

    try:
        listeners = parse_listeners(listen)
        data_dir = resolve_data_dir(data_dir_given, must_exist=False)
        run_services(process, region, data_dir, listeners, config)
    except (ValueError, UnknownService, FileNotFoundError) as exc:
        err.print(f"[red]cannot start {', '.join(listen)}:[/] {exc}")
        raise typer.Exit(2) from exc


def _change_status(site: str, root: Path, new_status: str) -> None:
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, set_tenant_status

    try:
        response = set_tenant_status(root, site, new_status)
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {root}:[/] {exc}")
        raise typer.Exit(2) from exc
    if response.status != 200:
        err.print(f"[red]{response.json().get('message', response.status)}[/]")
        raise typer.Exit(1)
    typer.echo(f"{site}: {new_status}")


@tenant_app.command("suspend")
def tenant_suspend(site: str, data_dir_given: DataDirOption = None) -> None:
    """Suspend a site: every edge refuses its requests within a second."""
    _change_status(site, resolve_data_dir(data_dir_given), "suspended")


@tenant_app.command("resume")
def tenant_resume(site: str, data_dir_given: DataDirOption = None) -> None:
    """Resume a suspended site."""
    _change_status(site, resolve_data_dir(data_dir_given), "active")


@tenant_app.command("purge")
def tenant_purge(
    site: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the site's data is lost.")] = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Erase a site for good: destroy its data keys, so nothing of it can be read again."""
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE
    from tenantry.cli.purge import purge_site
    from tenantry.cli.site_calls import OperatorCallFailed

    if not yes:
        err.print(f"[red]purging {site} destroys all its data for good; add --yes to go on[/]")
        raise typer.Exit(2)
    found = resolve_data_dir(data_dir_given)
    try:
        destroyed = purge_site(found, site)
    except OperatorCallFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {found}:[/] {exc}")
        raise typer.Exit(2) from exc
    if destroyed is None:
        typer.echo(f"{site}: purged already")
    else:
        typer.echo(f"{site}: purged, {destroyed} data key versions destroyed")


@tenant_app.command("delete")
def tenant_delete(site: str, data_dir_given: DataDirOption = None) -> None:
    """Delete a site: unreachable at once, purged when its grace period ends unless undeleted."""
    from tenantry.cli.purge import delete_site

    deleted = _site_step(site, resolve_data_dir(data_dir_given), delete_site)
    typer.echo(f"{site}: deleted; purged at {deleted['purge_at']} unless undeleted before")


@tenant_app.command("undelete")
def tenant_undelete(site: str, data_dir_given: DataDirOption = None) -> None:
    """Bring a deleted site back, whole, within its grace period."""
    from tenantry.cli.purge import undelete_site

    back = _site_step(site, resolve_data_dir(data_dir_given), undelete_site)
    typer.echo(f"{site}: undeleted, {back['status']}")


def _site_step(
    site: str, root: Path, step: Callable[[Path, str], dict[str, Any]]
) -> dict[str, Any]:
    """Run one operator step on `site`, exiting 1 (refused) or 2 (no cloud) with its reason."""
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE
    from tenantry.cli.site_calls import OperatorCallFailed

    try:
        return step(root, site)
    except OperatorCallFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {root}:[/] {exc}")
        raise typer.Exit(2) from exc


@tenant_app.command("list")
def tenant_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list, for scripts.")] = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Show every site: its cloud id, region, shard, status and creation time."""
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE
    from tenantry.cli.site_calls import OperatorCallFailed
    from tenantry.cli.tenants import json_document, list_sites, print_sites

    found = resolve_data_dir(data_dir_given)
    try:
        sites = list_sites(found)
    except OperatorCallFailed as exc:
        err.print(f"[red]cannot list the sites:[/] {exc}")
        raise typer.Exit(1) from exc
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {found}:[/] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json_document(sites))
    else:
        print_sites(Console(highlight=False), sites)


@tenant_app.command("info")
def tenant_info(
    site: str,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON object, for scripts.")] = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Show one site: its cloud id, region, shard, status and creation time."""
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE
    from tenantry.cli.site_calls import OperatorCallFailed
    from tenantry.cli.tenants import json_document, print_sites, site_info

    found = resolve_data_dir(data_dir_given)
    try:
        shown = site_info(found, site)
    except OperatorCallFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {found}:[/] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json_document(shown))
    else:
        print_sites(Console(highlight=False), [shown])


@tenant_app.command("restore")
def tenant_restore(
    site: str,
    at: Annotated[str, typer.Option("--at", help="ISO 8601 time, to the second (UTC if bare).")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: today's data is replaced.")] = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Bring one site's data back to how it was at a second, in place; its neighbours are not
    touched. The site answers 503 `tenant_restoring` meanwhile."""
    from tenantry.cli.backup import BackupCommandError, parse_time, progress_bar
    from tenantry.cli.tenant_restore import ERASURE_LEDGER, restore_tenant

    found = resolve_data_dir(data_dir_given)
    try:
        moment = parse_time(at)
        assert moment is not None
        if not yes and not typer.confirm(f"Replace {site}'s data by its backup of {at}?"):
            raise BackupCommandError("nothing restored", code=1)
        with progress_bar(f"restore {site}") as report:
            done = restore_tenant(found, site, moment, report)
    except BackupCommandError as exc:
        err.print(f"[red]tenantry tenant restore:[/] {exc}")
        raise typer.Exit(exc.code) from exc
    for store in done:
        if store.database == ERASURE_LEDGER:
            typer.echo(f"{ERASURE_LEDGER}: {store.rows} erasures replayed")
            continue
        kept = f"; kept as they are now: {', '.join(store.kept_live)}" if store.kept_live else ""
        typer.echo(
            f"{store.database}: {store.rows} rows restored, counts and checksums match{kept}"
        )
    typer.echo(f"{site}: restored to {moment.isoformat()}, served again")


@tenant_app.command("move")
def tenant_move(
    site: str,
    shard: Annotated[
        str | None, typer.Option("--shard", help="The shard of its region to move it to.")
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", help="The region to move it to (its first shard, or --shard)."),
    ] = None,
    unpin: Annotated[
        bool, typer.Option("--unpin", help="Move it out of the region it was pinned to.")
    ] = False,
    abort: Annotated[
        bool, typer.Option("--abort", help="Stop its move that has not switched yet.")
    ] = False,
    catch_up_seconds: Annotated[
        float | None,
        typer.Option(
            "--catch-up-seconds",
            help="Give up, unfrozen, a catch-up longer than this ([moves] catch_up_seconds).",
        ),
    ] = None,
    data_dir_given: DataDirOption = None,
) -> None:
    """Move a live site to another shard of its region, or to another region; its writes
    pause for about a second, its reads never. Run again, a move cut short finishes (or
    starts over)."""
    from tenantry.cli.backup import BackupCommandError, progress_bar
    from tenantry.cli.tenant_move import abort_move, move_tenant

    found = resolve_data_dir(data_dir_given)
    try:
        if abort:
            abort_move(found, site)
            typer.echo(f"{site}: move aborted; it is served where it was")
            return
        with progress_bar(f"move {site}") as report:
            done = move_tenant(
                found,
                site,
                shard,
                report,
                to_region=region,
                unpin=unpin,
                catch_up_seconds=catch_up_seconds,
            )
    except BackupCommandError as exc:
        err.print(f"[red]tenantry tenant move:[/] {exc}")
        raise typer.Exit(exc.code) from exc
    for note in done.notes:
        err.print(f"[yellow]note:[/] {note}")
    move = done.move
    rows = ", ".join(f"{name} {count}" for name, count in sorted(move.get("rows", {}).items()))
    across = move.get("to_region", move["region"]) != move["region"]
    typer.echo(
        f"{site}: moved from {move['from_shard']} to {move['to_shard']}"
        + (f" ({move['region']} to {move['to_region']})" if across else "")
        + (f" (rows: {rows}; counts and checksums match)" if rows else "")
        + (f"; writes paused {move['freeze_seconds']} s" if "freeze_seconds" in move else "")
    )
    if across:
        typer.echo(
            f"blobs: {move['blobs']} ({move['blob_bytes']} bytes, each checked); data keys: "
            f"{move['data_keys']}, now under {move['to_region']}'s root key or the site's own"
        )
    typer.echo(f"the old copy stays on {move['source_kept']}")


@tenant_app.command("moves")
def tenant_moves(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    remove_expired: Annotated[
        bool,
        typer.Option(
            "--remove-expired",
            help="First remove the old copies kept longer than [moves] keep_source_hours.",
        ),
    ] = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """List the tenant moves in progress, then those that ended (`up` removes old copies
    that fell due by itself, with --remove-expired)."""
    from rich.table import Table as RichTable

    from tenantry.cli.backup import BackupCommandError
    from tenantry.cli.move_journal import all_moves
    from tenantry.cli.move_removal import remove_expired as remove
    from tenantry.cli.tenants import json_document
    from tenantry.services.tcs.catalog import iso_time

    found = resolve_data_dir(data_dir_given)
    if remove_expired:
        try:
            removed = remove(found)
        except BackupCommandError as exc:
            err.print(f"[red]tenantry tenant moves:[/] {exc}")
            raise typer.Exit(exc.code) from exc
        for move in removed:
            what = move["source_removed"]
            err.print(
                f"{move['site']}: old copy on {move['from_shard']} "
                + (
                    f"was replaced since ({what['superseded_by']}); nothing to remove"
                    if "superseded_by" in what
                    else f"removed ({what['rows']} rows"
                    + (", and its blobs)" if what["blobs"] else ")")
                )
            )
    moves = all_moves(found)
    if as_json:
        typer.echo(json_document(moves))
        return
    table = RichTable("site", "from", "to", "phase", "started", "freeze (s)", "old copy", "reason")
    for move in moves:
        old_copy = ""
        if move.get("result") == "switched":
            old_copy = "removed" if "source_removed" in move else "kept"
        table.add_row(
            move["site"],
            move["from_shard"],
            move["to_shard"],
            move["phase"],
            iso_time(float(move["started_at"])),
            str(move.get("freeze_seconds", "")),
            old_copy,
            str(move.get("reason", "")),
        )
    Console(highlight=False, width=200).print(table)


@policy_app.command("check")
def policy_check(
    policy: Annotated[Path | None, typer.Option("--policy", exists=True)] = None,
) -> None:
    """Fail if the allowlist and the code disagree (a call not allowed, or an allowed route
    that no service exposes or no code uses), or a table or service has no personal-data
    declaration."""
    from tenantry.cli.personal_data_check import check_personal_data
    from tenantry.cli.policy_check import check_policy
    from tenantry.platform.policy import PolicyError

    try:
        problems = check_policy(policy)
    except (PolicyError, OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]cannot read the policy:[/] {exc}")
        raise typer.Exit(2) from exc
    undeclared = check_personal_data()
    for problem in problems:
        err.print(f"[red]drift:[/] {problem}")
    for problem in undeclared:
        err.print(f"[red]personal data:[/] {problem}")
    if problems or undeclared:
        raise typer.Exit(1)
    typer.echo("policy matches the code; every store declares its personal data")


def main() -> None:
    """Entry point of the `tenantry` script.

    An operator command that fails in a way nobody foresaw says so in one line and exits 1,
    never with a traceback (`TENANTRY_DEBUG=1` shows it). A service process (`serve`) keeps
    its traceback: it goes to the service's log, where it is what one needs.
    """
    try:
        app()
    except Exception as exc:
        if os.environ.get("TENANTRY_DEBUG") == "1" or sys.argv[1:2] == ["serve"]:
            raise
        err.print(
            f"[red]tenantry failed unexpectedly:[/] {type(exc).__name__}: {exc}\n"
            "Run it again with TENANTRY_DEBUG=1 to see where."
        )
        sys.exit(1)
