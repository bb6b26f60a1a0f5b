"""`tenantry privacy`: an operator's export and erasure of one account of a site, and the replay
of a site's erasure ledger."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from tenantry.cli.data_dir_option import DataDirOption, resolve_data_dir

privacy_app = typer.Typer(
    no_args_is_help=True, help="Personal data: export, erasure and the erasure ledger."
)
err = Console(stderr=True, highlight=False, soft_wrap=True)
EXPORT_TIMEOUT = 30.0


class Content(StrEnum):
    """What becomes of what the account wrote and uploaded."""

    KEEP = "keep"
    ERASE = "erase"


Site = Annotated[str, typer.Argument(help="The site the account belongs to.")]
Account = Annotated[str, typer.Argument(help="The account id (GET /rest/identity/accounts).")]


@privacy_app.command("export")
def export(
    site: Site,
    account: Account,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the zip.")] = None,
    data_dir_given: DataDirOption = None,
) -> None:
    """Export everything every store holds about an account, as one zip."""
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, run_as_operator
    from tenantry.cli.privacy_calls import export_account
    from tenantry.cli.site_calls import OperatorCallFailed

    data_dir = resolve_data_dir(data_dir_given)
    try:
        export_id, data = run_as_operator(
            data_dir, lambda client: export_account(client, site, account), EXPORT_TIMEOUT
        )
    except OperatorCallFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {data_dir}:[/] {exc}")
        raise typer.Exit(2) from exc
    target = out if out is not None else Path(f"export-{account}.zip")
    target.write_bytes(data)
    typer.echo(f"{site}: export {export_id} of {account} written to {target}")


@privacy_app.command("erase")
def erase(
    site: Site,
    account: Account,
    content: Annotated[
        Content, typer.Option("--content", help="keep: what it wrote stays, unattributed.")
    ] = Content.KEEP,
    data_dir_given: DataDirOption = None,
) -> None:
    """Erase an account from every store at once; prints the signed receipt as JSON."""
    from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, run_as_operator
    from tenantry.cli.privacy_calls import erase_account
    from tenantry.cli.site_calls import OperatorCallFailed

    data_dir = resolve_data_dir(data_dir_given)
    try:
        done = run_as_operator(
            data_dir,
            lambda client: erase_account(client, site, account, content.value),
            EXPORT_TIMEOUT,
        )
    except OperatorCallFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    except CLOUD_NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {data_dir}:[/] {exc}")
        raise typer.Exit(2) from exc
    typer.echo(orjson.dumps(done, option=orjson.OPT_INDENT_2).decode())


@privacy_app.command("replay")
def replay(site: Site, data_dir_given: DataDirOption = None) -> None:
    """Replay a site's erasure ledger, as every restore does before serving the site; a site a
    region restore left restoring is served again once it succeeds."""
    from tenantry.cli.erasure_replay import ReplayFailed, finish, pending
    from tenantry.cli.erasure_replay import replay as replay_ledger

    data_dir = resolve_data_dir(data_dir_given)
    waiting = next((p for p in pending(data_dir) if p.site == site), None)
    try:
        replayed = replay_ledger(data_dir, site) if waiting is None else finish(data_dir, waiting)
    except ReplayFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(exc.code) from exc
    served = "" if waiting is None else f"; served again ({waiting.previous_status})"
    typer.echo(f"{site}: {replayed['replayed']} erasures replayed{served}")
