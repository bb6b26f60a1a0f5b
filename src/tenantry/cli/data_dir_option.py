"""The `--data-dir` option every command shares, and its one answer when there is no cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tenantry.cli.datadir import DATA_DIR_ENV, NoDataDirectory, find_data_dir

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help=f"Where the cloud keeps its data (default: ${DATA_DIR_ENV}, else ./tenantry-data).",
        show_default=False,
    ),
]
_err = Console(stderr=True, highlight=False, soft_wrap=True)


def resolve_data_dir(given: Path | None, *, must_exist: bool = True) -> Path:
    """The command's data directory (see `find_data_dir`); none there ends it with exit 2."""
    try:
        return find_data_dir(given, must_exist=must_exist)
    except NoDataDirectory as exc:
        _err.print(f"[red]no tenantry data directory:[/] {exc}")
        raise typer.Exit(2) from exc
