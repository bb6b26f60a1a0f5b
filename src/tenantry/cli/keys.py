"""`tenantry keys`: list and rotate the root key of each region of a running cloud."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import aiohttp
import typer
from rich.console import Console
from rich.table import Table

from tenantry.cli.data_key_rotation import RotationFailed
from tenantry.cli.data_key_rotation import rotate_data_key as rotate_site_key
from tenantry.cli.kms_calls import kms_regions, list_root_keys, rotate_root_key
from tenantry.cli.operator_calls import run_as_operator
from tenantry.platform.client import ServiceResponse
from tenantry.platform.errors import ApiError
from tenantry.platform.keys import KeyFileError

T = TypeVar("T")

keys_app = typer.Typer(
    no_args_is_help=True, help="Root keys of each region, and each site's data key."
)
RESEAL_TIMEOUT = 120.0  # one batch of resealing

DataDirOption = Annotated[
    Path, typer.Option("--data-dir", help="Where the cloud keeps its data.", resolve_path=True)
]
DEFAULT_DATA_DIR = Path("tenantry-data")
# What a call to a cloud that is not (fully) running can raise, from the key file to the answer.
_NOT_REACHABLE = (ApiError, aiohttp.ClientError, KeyFileError, OSError, LookupError, ValueError)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Show every version of each region's root key: state, owner and when it was made."""
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
    out.print(table)
    if failed:
        raise typer.Exit(1)


@keys_app.command("rotate")
def rotate(
    region: Annotated[str, typer.Option("--region", help="The region whose root key rotates.")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="Account id that owns the new version.")
    ] = None,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Make the region's next root key version and rewrap every data key of the region under it."""
    regions = _reach(data_dir, lambda: kms_regions(data_dir))
    if region not in regions:
        err.print(f"[red]no region {region!r}[/]; one of: {', '.join(regions)}")
        raise typer.Exit(2)
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
def rotate_data_key(site: str, data_dir: DataDirOption = DEFAULT_DATA_DIR) -> None:
    """Give a site a new data key and reseal all its data under it, online."""
    try:
        done = _reach(
            data_dir,
            lambda: run_as_operator(
                data_dir, lambda client: rotate_site_key(client, site, out), RESEAL_TIMEOUT
            ),
        )
    except RotationFailed as exc:
        err.print(f"[red]{site}:[/] {exc}")
        raise typer.Exit(1) from exc
    typer.echo(f"{site}: data key version {done['version']}, {done['resealed']} rows resealed")


def _reach(data_dir: Path, call: Callable[[], T]) -> T:
    """Run a call to the cloud; a cloud that is not running ends the command with exit 2."""
    try:
        return call()
    except _NOT_REACHABLE as exc:
        err.print(f"[red]no running cloud in {data_dir}:[/] {exc}")
        raise typer.Exit(2) from exc


def _message(response: ServiceResponse) -> str:
    try:
        return str(response.json().get("message", response.status))
    except (ValueError, AttributeError):
        return f"status {response.status}"
