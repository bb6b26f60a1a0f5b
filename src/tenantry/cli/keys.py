"""`tenantry keys`: list and rotate the root key of each region of a running cloud.

Each command imports what it calls the cloud with when it runs: every `tenantry` command
(`up` and its services too) defines these, and should not load their clients for nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tenantry.cli.data_dir_option import DataDirOption, resolve_data_dir
from tenantry.cli.tables import print_whole

if TYPE_CHECKING:
    from tenantry.platform.client import ServiceResponse

T = TypeVar("T")

keys_app = typer.Typer(
    no_args_is_help=True, help="Root keys of each region, and each site's data key."
)
RESEAL_TIMEOUT = 120.0  # one batch of resealing


out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(data_dir_given: DataDirOption = None) -> None:
    """Show every version of each region's root key: state, owner and when it was made."""
    from tenantry.cli.kms_calls import list_root_keys

    data_dir = resolve_data_dir(data_dir_given)
    answers = _reach(data_dir, lambda: list_root_keys(data_dir))
    table = Table(title="Root keys", title_justify="left")
    for column in ("region", "version", "state", "owner", "created", "ref"):
        table.add_column(column)
    failed = False
    for region, response in answers.items():
        if response.status != 200:
            err.print(f"[red]{region}:[/] {_message(response)}")
            failed = True
            continue
        for key in response.json():
            table.add_row(
                key["region"],
                str(key["version"]),
                key["state"],
                key["owner"] or "-",
                key["created_at"],
                key["ref"],
            )
    print_whole(out, table)
    if failed:
        raise typer.Exit(1)


@keys_app.command("rotate")
def rotate(
    region: Annotated[str, typer.Option("--region", help="The region whose root key rotates.")],
    owner: Annotated[
        str | None,
        typer.Option("--owner", help="Account id that owns the new version (with --site)."),
    ] = None,
    site: Annotated[
        str | None, typer.Option("--site", help="The site the owner's account belongs to.")
    ] = None,
    data_dir_given: DataDirOption = None,
) -> None:
    """Make the region's next root key version and rewrap every data key of the region under it.

    An owner is checked as `keys owner` checks it: an active admin of the site named.
    """
    from tenantry.cli.key_owners import check_owner
    from tenantry.cli.kms_calls import kms_regions, rotate_root_key
    from tenantry.cli.operator_calls import run_as_operator
    from tenantry.cli.site_calls import OperatorCallFailed

    if (owner is None) != (site is None):
        err.print("[red]--owner and --site go together[/]: the owner is an account of a site")
        raise typer.Exit(2)
    data_dir = resolve_data_dir(data_dir_given)
    regions = _reach(data_dir, lambda: kms_regions(data_dir))
    if region not in regions:
        err.print(f"[red]no region {region!r}[/]; one of: {', '.join(regions)}")
        raise typer.Exit(2)
    if owner is not None and site is not None:
        checked_site, checked_owner = site, owner
        try:
            _reach(
                data_dir,
                lambda: run_as_operator(
                    data_dir, lambda client: check_owner(client, checked_site, checked_owner)
                ),
            )
        except OperatorCallFailed as exc:
            err.print(f"[red]not rotated:[/] {exc}")
            raise typer.Exit(1) from exc
    response = _reach(data_dir, lambda: rotate_root_key(data_dir, region, owner))
    if response.status != 200:
        err.print(f"[red]rotation failed:[/] {_message(response)}")
        raise typer.Exit(1)
    done = response.json()
    typer.echo(
        f"{done['region']}: root key version {done['version']}, "
        f"{done['rewrapped']} data keys rewrapped"
    )


@keys_app.command("rotate-data-key")
def rotate_data_key(site: str, data_dir_given: DataDirOption = None) -> None:
    """Give a site a new data key and reseal all its data under it, online."""
    from tenantry.cli.data_key_rotation import rotate_data_key as rotate_site_key
    from tenantry.cli.operator_calls import run_as_operator
    from tenantry.cli.site_calls import OperatorCallFailed

    data_dir = resolve_data_dir(data_dir_given)
    try:
        done = _reach(
            data_dir,
            lambda: run_as_operator(
                data_dir, lambda client: rotate_site_key(client, site, out), RESEAL_TIMEOUT
            ),
        )
    except OperatorCallFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(
        f"{site}: data key version {done['version']}, {done['rows']} rows and "
        f"{done['files']} files resealed, minimum version {done['min_version']}"
    )


@keys_app.command("owner")
def owner(
    account: Annotated[str, typer.Argument(help="Account id (from GET /rest/identity/accounts).")],
    region: Annotated[str, typer.Option("--region", help="The region whose root key it owns.")],
    site: Annotated[str, typer.Option("--site", help="The site the account belongs to.")],
    data_dir_given: DataDirOption = None,
) -> None:
    """Make an admin account the owner of the region's active root key.

    When the owner's role changes or the account is deactivated or removed, kms rotates that
    key by itself.
    """
    from tenantry.cli.key_owners import set_owner
    from tenantry.cli.kms_calls import kms_regions
    from tenantry.cli.operator_calls import run_as_operator
    from tenantry.cli.site_calls import OperatorCallFailed

    data_dir = resolve_data_dir(data_dir_given)
    regions = _reach(data_dir, lambda: kms_regions(data_dir))
    if region not in regions:
        err.print(f"[red]no region {region!r}[/]; one of: {', '.join(regions)}")
        raise typer.Exit(2)
    try:
        done = _reach(
            data_dir,
            lambda: run_as_operator(
                data_dir, lambda client: set_owner(client, region, site, account)
            ),
        )
    except OperatorCallFailed as exc:
        err.print(f"[red]owner not set:[/] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(f"{done['region']}: root key version {done['version']} is owned by {account}")


@keys_app.command("audit")
def audit(
    region: Annotated[
        str | None, typer.Option("--region", help="Only this region's key events.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    site: Annotated[
        str | None,
        typer.Option("--site", help="This site's key events, from its audit log (cloud running)."),
    ] = None,
    data_dir_given: DataDirOption = None,
) -> None:
    """Show the key events kms recorded, oldest first: a site's from its audit log, or every
    region's from its kms log."""
    from tenantry.cli.key_audit import audit_logs, details, events_by_time

    data_dir = resolve_data_dir(data_dir_given)
    if site is not None:
        _site_audit(data_dir, site, as_json)
        return
    logs = {name: path for name, path in audit_logs(data_dir, region).items() if path.is_file()}
    if not logs:
        where = f" for region {region!r}" if region else ""
        err.print(f"[red]no kms log in {data_dir}{where}[/]")
        raise typer.Exit(2)
    table = Table(title="Key events", title_justify="left")
    for column in ("time", "region", "action", "details"):
        table.add_column(column)
    for name, entry in events_by_time(logs):
        if as_json:
            typer.echo(orjson.dumps(entry).decode())
        else:
            table.add_row(
                str(entry.get("timestamp", "")), name, str(entry.get("action")), details(entry)
            )
    if not as_json:
        print_whole(out, table)


def _site_audit(data_dir: Path, site: str, as_json: bool) -> None:
    from tenantry.cli.key_audit import site_key_events
    from tenantry.cli.site_calls import OperatorCallFailed

    try:
        events = _reach(data_dir, lambda: site_key_events(data_dir, site))
    except OperatorCallFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    table = Table(title=f"Key events of {site}", title_justify="left")
    for column in ("index", "time", "actor", "action", "details"):
        table.add_column(column)
    for event in events:
        if as_json:
            typer.echo(orjson.dumps(event).decode())
            continue
        actor = f"{event['actor']['type']} {event['actor']['id']}"
        shown = ", ".join(f"{k}={v}" for k, v in sorted(event["detail"].items()))
        table.add_row(str(event["index"]), event["time"], actor, event["action"], shown)
    if not as_json:
        print_whole(out, table)


@keys_app.command("byok")
def byok(
    site: str,
    aws_kms_key: Annotated[
        str | None, typer.Option("--aws-kms-key", help="ARN of the customer's AWS KMS key.")
    ] = None,
    off: Annotated[
        bool, typer.Option("--off", help="Put the site's keys back under the root key.")
    ] = False,
    data_dir_given: DataDirOption = None,
) -> None:
    """Wrap a site's data keys under the customer's own AWS KMS key (BYOK), online."""
    from tenantry.cli.byok import set_customer_key
    from tenantry.cli.site_calls import OperatorCallFailed

    data_dir = resolve_data_dir(data_dir_given)
    if (aws_kms_key is None) != off:
        err.print("[red]give exactly one of --aws-kms-key ARN and --off[/]")
        raise typer.Exit(2)
    try:
        done = _reach(data_dir, lambda: set_customer_key(data_dir, site, aws_kms_key))
    except OperatorCallFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    under = done["key_ref"] or "the region's root key"
    typer.echo(f"{site}: data keys under {under}, {done['rewrapped']} versions rewrapped")


def _reach(data_dir: Path, call: Callable[[], T]) -> T:
    """Run a call to the cloud; a cloud that is not running ends the command with exit 2."""
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE

    try:
        return call()
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {data_dir}:[/] {exc}")
        raise typer.Exit(2) from exc


def _message(response: ServiceResponse) -> str:
    try:
        return str(response.json().get("message", response.status))
    except (ValueError, AttributeError):
        return f"status {response.status}"
